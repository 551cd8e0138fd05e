using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Engine.Proto;
using Google.Protobuf;
using Google.Protobuf.Collections;

namespace Engine.IO;

/// <summary>
/// Reads .caffemodel / .solverstate / .binaryproto files from a stream, decoding the wire format
/// down to the BlobProtos itself so that each blob's float (or double) array is allocated once,
/// at its final size, and filled straight from the file. (Protobuf's generated parser grows a
/// repeated field by doubling when reading from a stream, which for a 244 MB AlexNet model
/// allocates and copies about three times the file.) Every other field is gathered as raw bytes
/// and handed to the generated parser, so unknown and future fields survive.
/// </summary>
internal sealed class BlobStreamReader : IDisposable
{
    private readonly string _path;
    private readonly Stream _stream;
    private readonly long _length;
    private readonly byte[] _chunk = new byte[1 << 16];
    private long _pos;

    private const int WireVarint = 0, WireFixed64 = 1, WireLength = 2, WireFixed32 = 5;

    public BlobStreamReader(string path)
    {
        _path = path;
        _stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        _length = _stream.Length;
    }

    public void Dispose() => _stream.Dispose();

    /// <summary>NetParameter; layers (100) and V1 layers (2) have their blobs read directly.</summary>
    public NetParameter ReadNet()
    {
        var net = new NetParameter();
        var layers = new List<LayerParameter>();
        var v1Layers = new List<V1LayerParameter>();
        using var rest = new MemoryStream();
        while (NextTag(_length, out int field, out int wire, out ulong tag))
        {
            if (field == NetParameter.LayerFieldNumber && wire == WireLength)
            {
                var layer = new LayerParameter();
                ReadWithBlobs(layer, LayerParameter.BlobsFieldNumber, layer.Blobs);
                layers.Add(layer);
            }
            else if (field == NetParameter.LayersFieldNumber && wire == WireLength)
            {
                var layer = new V1LayerParameter();
                ReadWithBlobs(layer, V1LayerParameter.BlobsFieldNumber, layer.Blobs);
                v1Layers.Add(layer);
            }
            else CopyField(tag, wire, _length, rest);
        }
        net.MergeFrom(rest.ToArray());
        net.Layer.AddRange(layers);
        net.Layers.AddRange(v1Layers);
        return net;
    }

    /// <summary>SolverState; its history (3) blobs are read directly.</summary>
    public SolverState ReadSolverState()
    {
        var state = new SolverState();
        using var rest = new MemoryStream();
        var history = new List<BlobProto>();
        while (NextTag(_length, out int field, out int wire, out ulong tag))
        {
            if (field == SolverState.HistoryFieldNumber && wire == WireLength) history.Add(ReadBlob(LengthEnd(_length)));
            else CopyField(tag, wire, _length, rest);
        }
        state.MergeFrom(rest.ToArray());
        state.History.AddRange(history);
        return state;
    }

    /// <summary>A whole file holding one BlobProto (.binaryproto).</summary>
    public BlobProto ReadBlobFile() => ReadBlob(_length);

    /// <summary>A length-delimited message whose field <paramref name="blobField"/> holds BlobProtos.</summary>
    private void ReadWithBlobs(IMessage message, int blobField, RepeatedField<BlobProto> blobs)
    {
        long end = LengthEnd(_length);
        using var rest = new MemoryStream();
        while (NextTag(end, out int field, out int wire, out ulong tag))
        {
            if (field == blobField && wire == WireLength) blobs.Add(ReadBlob(LengthEnd(end)));
            else CopyField(tag, wire, end, rest);
        }
        // Blobs are not in `rest`, so merging keeps them in file order.
        message.MergeFrom(rest.ToArray());
    }

    private BlobProto ReadBlob(long end)
    {
        var blob = new BlobProto();
        using var rest = new MemoryStream();
        while (NextTag(end, out int field, out int wire, out ulong tag))
        {
            switch (field, wire)
            {
                case (BlobProto.DataFieldNumber, WireLength): ReadPackedFloats(LengthEnd(end), blob.Data); break;
                case (BlobProto.DataFieldNumber, WireFixed32): blob.Data.Add(ReadFloat(end)); break;
                case (BlobProto.DiffFieldNumber, WireLength): ReadPackedFloats(LengthEnd(end), blob.Diff); break;
                case (BlobProto.DiffFieldNumber, WireFixed32): blob.Diff.Add(ReadFloat(end)); break;
                case (BlobProto.DoubleDataFieldNumber, WireLength): ReadPackedDoubles(LengthEnd(end), blob.DoubleData); break;
                case (BlobProto.DoubleDataFieldNumber, WireFixed64): blob.DoubleData.Add(ReadDouble(end)); break;
                case (BlobProto.DoubleDiffFieldNumber, WireLength): ReadPackedDoubles(LengthEnd(end), blob.DoubleDiff); break;
                case (BlobProto.DoubleDiffFieldNumber, WireFixed64): blob.DoubleDiff.Add(ReadDouble(end)); break;
                default: CopyField(tag, wire, end, rest); break;
            }
        }
        blob.MergeFrom(rest.ToArray());
        return blob;
    }

    private void ReadPackedFloats(long end, RepeatedField<float> into)
    {
        long bytes = end - _pos;
        if (bytes % sizeof(float) != 0) throw Invalid($"packed float field of {bytes} bytes");
        long total = into.Count + bytes / sizeof(float);
        if (total > int.MaxValue) throw Invalid($"{total} floats in one blob");
        if (into.Capacity < total) into.Capacity = (int)total;
        while (_pos < end)
        {
            int n = (int)Math.Min(_chunk.Length, end - _pos);
            Fill(_chunk.AsSpan(0, n));
            if (BitConverter.IsLittleEndian)
                foreach (var v in MemoryMarshal.Cast<byte, float>(_chunk.AsSpan(0, n))) into.Add(v);
            else
                for (int i = 0; i < n; i += 4) into.Add(BinaryPrimitives.ReadSingleLittleEndian(_chunk.AsSpan(i)));
        }
    }

    private void ReadPackedDoubles(long end, RepeatedField<double> into)
    {
        long bytes = end - _pos;
        if (bytes % sizeof(double) != 0) throw Invalid($"packed double field of {bytes} bytes");
        long total = into.Count + bytes / sizeof(double);
        if (total > int.MaxValue) throw Invalid($"{total} doubles in one blob");
        if (into.Capacity < total) into.Capacity = (int)total;
        while (_pos < end)
        {
            int n = (int)Math.Min(_chunk.Length, end - _pos);
            Fill(_chunk.AsSpan(0, n));
            for (int i = 0; i < n; i += 8) into.Add(BinaryPrimitives.ReadDoubleLittleEndian(_chunk.AsSpan(i)));
        }
    }

    private float ReadFloat(long end)
    {
        Span<byte> b = stackalloc byte[4];
        Need(end, 4);
        Fill(b);
        return BinaryPrimitives.ReadSingleLittleEndian(b);
    }

    private double ReadDouble(long end)
    {
        Span<byte> b = stackalloc byte[8];
        Need(end, 8);
        Fill(b);
        return BinaryPrimitives.ReadDoubleLittleEndian(b);
    }

    // ---------------------------------------------------------------- wire level

    /// <summary>The next tag before <paramref name="end"/>, or false at the end of the message.</summary>
    private bool NextTag(long end, out int field, out int wire, out ulong tag)
    {
        field = wire = 0;
        tag = 0;
        if (_pos >= end)
        {
            if (_pos > end) throw Invalid("a field runs past the end of its message");
            return false;
        }
        tag = ReadVarint(end);
        field = (int)(tag >> 3);
        wire = (int)(tag & 7);
        if (field == 0) throw Invalid("field number 0");
        return true;
    }

    /// <summary>Reads a length prefix and returns where that field ends.</summary>
    private long LengthEnd(long end)
    {
        ulong len = ReadVarint(end);
        if (len > (ulong)(end - _pos)) throw Truncated();
        return _pos + (long)len;
    }

    private void Need(long end, long n)
    {
        if (n > end - _pos) throw Truncated();
    }

    private ulong ReadVarint(long end)
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            Need(end, 1);
            int b = _stream.ReadByte();
            if (b < 0) throw Truncated();
            _pos++;
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw Invalid("malformed varint");
    }

    private void Fill(Span<byte> buffer)
    {
        _stream.ReadExactly(buffer);
        _pos += buffer.Length;
    }

    /// <summary>Copy one field (tag and value) as it is, for the generated parser.</summary>
    private void CopyField(ulong tag, int wire, long end, MemoryStream to)
    {
        WriteVarint(to, tag);
        switch (wire)
        {
            case WireVarint: WriteVarint(to, ReadVarint(end)); break;
            case WireFixed64: CopyBytes(8, end, to); break;
            case WireFixed32: CopyBytes(4, end, to); break;
            case WireLength:
                {
                    ulong len = ReadVarint(end);
                    if (len > (ulong)(end - _pos)) throw Truncated();
                    WriteVarint(to, len);
                    CopyBytes((long)len, end, to);
                    break;
                }
            default: throw Invalid($"wire type {wire} (groups are not used by caffe.proto)");
        }
    }

    private void CopyBytes(long n, long end, MemoryStream to)
    {
        Need(end, n);
        while (n > 0)
        {
            int k = (int)Math.Min(n, _chunk.Length);
            Fill(_chunk.AsSpan(0, k));
            to.Write(_chunk, 0, k);
            n -= k;
        }
    }

    private static void WriteVarint(MemoryStream to, ulong v)
    {
        while (v >= 0x80)
        {
            to.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        to.WriteByte((byte)v);
    }

    private EngineException Truncated() => Invalid("truncated");

    private EngineException Invalid(string why) => new($"{_path}: not a valid protobuf file ({why} at byte {_pos})");
}
