using Engine.Proto;

namespace Engine.Core;

/// <summary>
/// An N-D array of float32 with a same-shaped gradient (diff), as in Caffe. Counts are 64-bit.
/// Memory grows on Reshape and is kept when the blob shrinks, so a net that reshapes to the
/// same sizes every iteration never allocates. Data and diff live in <see cref="BlobMemory"/>,
/// which belongs to a backend (the CPU today).
/// </summary>
public sealed class Blob
{
    private int[] _shape = [];
    private BlobMemory _data = new();
    private BlobMemory _diff = new();

    public Blob(string name = "") => Name = name;

    public Blob(string name, params int[] shape) : this(name) => Reshape(shape);

    public string Name { get; set; }

    public IReadOnlyList<int> Shape => _shape;

    public int NumAxes => _shape.Length;

    public long Count { get; private set; }

    /// <summary>Size of axis <paramref name="axis"/>; negative indexes count from the end.</summary>
    public int Dim(int axis) => _shape[CanonicalAxis(axis)];

    /// <summary>Product of the dimensions from <paramref name="start"/> (inclusive) to <paramref name="end"/> (exclusive).</summary>
    public long CountRange(int start, int end)
    {
        long c = 1;
        for (int i = start; i < end; i++) c *= _shape[i];
        return c;
    }

    public long CountFrom(int start) => CountRange(start, _shape.Length);

    public int CanonicalAxis(int axis)
    {
        if (axis < -NumAxes || axis >= Math.Max(NumAxes, 1))
            throw new EngineException($"blob \"{Name}\": axis {axis} is out of range for a {NumAxes}-D blob {ShapeString}");
        return axis < 0 ? axis + NumAxes : axis;
    }

    // Caffe's legacy 4-D accessors: axis 0..3, with missing trailing axes read as 1 (a 2-D
    // N×K blob has Num N, Channels K, Height 1, Width 1), as Caffe's LegacyShape does.
    public int Num => LegacyShape(0);
    public int Channels => LegacyShape(1);
    public int Height => LegacyShape(2);
    public int Width => LegacyShape(3);

    /// <summary>
    /// Caffe's LegacyShape: the size of axis <paramref name="index"/> (negative counts from the
    /// end), or 1 when the blob has no such axis. Only for blobs of at most 4 axes.
    /// </summary>
    public int LegacyShape(int index)
    {
        if (NumAxes > 4) throw new EngineException($"blob \"{Name}\": legacy 4-D accessor on a {NumAxes}-D blob {ShapeString}");
        if (index >= NumAxes || index < -NumAxes) return 1;
        return _shape[index < 0 ? index + NumAxes : index];
    }

    public string ShapeString => _shape.Length == 0 ? "()" : string.Join(" ", _shape) + $" ({Count})";

    public void Reshape(params int[] shape) => Reshape((IReadOnlyList<int>)shape);

    public void Reshape(IReadOnlyList<int> shape)
    {
        long count = 1;
        for (int i = 0; i < shape.Count; i++)
        {
            if (shape[i] < 0) throw new EngineException($"blob \"{Name}\": negative dimension {shape[i]} in shape ({string.Join(", ", shape)})");
            count *= shape[i];
        }
        if (count > int.MaxValue)
            throw new EngineException($"blob \"{Name}\": {count} elements exceed the 2^31 limit of one buffer");
        if (_shape.Length != shape.Count) _shape = new int[shape.Count];
        for (int i = 0; i < shape.Count; i++) _shape[i] = shape[i];
        Count = count;
        _data.EnsureCapacity((int)count);
        _diff.EnsureCapacity((int)count);
    }

    public void ReshapeLike(Blob other) => Reshape(other._shape);

    public bool ShapeEquals(Blob other) => _shape.AsSpan().SequenceEqual(other._shape);

    public bool ShapeEquals(IReadOnlyList<int> shape) => _shape.AsSpan().SequenceEqual(shape is int[] a ? a : shape.ToArray());

    /// <summary>The data, for reading and writing on the host.</summary>
    public Span<float> Data => _data.Host.AsSpan(0, (int)Count);

    /// <summary>The gradient, for reading and writing on the host.</summary>
    public Span<float> Diff => _diff.Host.AsSpan(0, (int)Count);

    /// <summary>The data array (length may exceed Count); for kernels that work with offsets.</summary>
    public float[] DataArray => _data.Host;

    public float[] DiffArray => _diff.Host;

    public BlobMemory DataMemory => _data;
    public BlobMemory DiffMemory => _diff;

    /// <summary>Make this blob use <paramref name="other"/>'s data memory (weights shared between nets or layers).</summary>
    public void ShareData(Blob other)
    {
        if (Count != other.Count) throw new InvalidOperationException($"ShareData: count {Count} vs {other.Count}");
        _data = other._data;
    }

    /// <summary>
    /// A new blob of <paramref name="other"/>'s shape that uses its data memory (nothing allocated
    /// or copied for the data) and has a gradient of its own: a test net's view of the training
    /// net's weights, as <see cref="ShareData"/> leaves it but without first allocating data to drop.
    /// </summary>
    public static Blob SharingDataOf(Blob other, string name = "")
    {
        var blob = new Blob(name) { _data = other._data, _shape = other._shape.ToArray(), Count = other.Count };
        blob._diff.EnsureCapacity((int)blob.Count);
        return blob;
    }

    public void ShareDiff(Blob other)
    {
        if (Count != other.Count) throw new InvalidOperationException($"ShareDiff: count {Count} vs {other.Count}");
        _diff = other._diff;
    }

    /// <summary>Bytes of float storage this blob holds (data + diff).</summary>
    public long MemoryBytes => ((long)_data.Capacity + _diff.Capacity) * sizeof(float);

    public void CopyFrom(Blob source, bool copyDiff = false, bool reshape = false)
    {
        if (reshape) ReshapeLike(source);
        else if (Count != source.Count) throw new EngineException($"cannot copy blob \"{source.Name}\" {source.ShapeString} into \"{Name}\" {ShapeString}");
        if (copyDiff) source.Diff.CopyTo(Diff);
        else source.Data.CopyTo(Data);
    }

    /// <summary>Shape as a BlobShape message.</summary>
    public BlobShape ToShapeProto()
    {
        var s = new BlobShape();
        foreach (var d in _shape) s.Dim.Add(d);
        return s;
    }

    /// <summary>Write to Caffe's BlobProto (new-style shape, float data).</summary>
    public BlobProto ToProto(bool writeDiff = false)
    {
        var p = new BlobProto { Shape = ToShapeProto() };
        p.Data.AddRange(Data.ToArray());
        if (writeDiff) p.Diff.AddRange(Diff.ToArray());
        return p;
    }

    /// <summary>
    /// The shape a BlobProto describes: its `shape` field, or its legacy num/channels/height/width.
    /// </summary>
    public static int[] ShapeOf(BlobProto proto)
    {
        if (proto.Shape != null) return proto.Shape.Dim.Select(d => checked((int)d)).ToArray();
        if (proto.HasNum || proto.HasChannels || proto.HasHeight || proto.HasWidth)
            return [proto.Num, proto.Channels, proto.Height, proto.Width];
        return [];
    }

    /// <summary>
    /// Whether a BlobProto fits this blob. Legacy 4-D shapes match the last four axes with
    /// missing leading axes taken as 1, as Caffe does (an InnerProduct weight saved as 1×1×M×K loads into M×K).
    /// </summary>
    public bool ShapeMatches(BlobProto proto)
    {
        if (proto.Shape != null) return ShapeEquals(ShapeOf(proto));
        if (NumAxes > 4) return false;
        return LegacyShape(-4) == proto.Num && LegacyShape(-3) == proto.Channels && LegacyShape(-2) == proto.Height && LegacyShape(-1) == proto.Width;
    }

    /// <summary>Read data (and diff, when present) from a BlobProto; float or double storage.</summary>
    public void FromProto(BlobProto proto, bool reshape = true)
    {
        if (reshape) Reshape(ShapeOf(proto));
        else if (!ShapeMatches(proto))
            throw new EngineException($"blob \"{Name}\": shape {ShapeString} does not match the stored ({string.Join(" ", ShapeOf(proto))})");
        var data = Data;
        if (proto.DoubleData.Count > 0)
        {
            CheckCount(proto.DoubleData.Count);
            for (int i = 0; i < data.Length; i++) data[i] = (float)proto.DoubleData[i];
        }
        else
        {
            CheckCount(proto.Data.Count);
            for (int i = 0; i < data.Length; i++) data[i] = proto.Data[i];
        }
        var diff = Diff;
        if (proto.DoubleDiff.Count == diff.Length && diff.Length > 0)
            for (int i = 0; i < diff.Length; i++) diff[i] = (float)proto.DoubleDiff[i];
        else if (proto.Diff.Count == diff.Length && diff.Length > 0)
            for (int i = 0; i < diff.Length; i++) diff[i] = proto.Diff[i];
    }

    private void CheckCount(int stored)
    {
        if (stored != Count)
            throw new EngineException($"blob \"{Name}\": {stored} stored values for shape {ShapeString}");
    }

    public override string ToString() => $"{Name} {ShapeString}";
}

/// <summary>
/// Storage for one array of a blob. Today a host array; a device backend keeps its copy here and
/// syncs on access to <see cref="Host"/>, as Caffe's SyncedMemory does.
/// </summary>
public sealed class BlobMemory
{
    private float[] _host = [];

    public float[] Host => _host;

    public int Capacity => _host.Length;

    internal void EnsureCapacity(int count)
    {
        if (count > _host.Length) Array.Resize(ref _host, count);
    }
}
