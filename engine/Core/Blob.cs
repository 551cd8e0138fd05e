using Engine.Backends;
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

    /// <summary>The data, for reading on the host; a device copy stays current.</summary>
    public ReadOnlySpan<float> ConstData => _data.HostReadOnly.AsSpan(0, (int)Count);

    /// <summary>The gradient, for reading on the host; a device copy stays current.</summary>
    public ReadOnlySpan<float> ConstDiff => _diff.HostReadOnly.AsSpan(0, (int)Count);

    /// <summary>The data on <paramref name="backend"/>, for reading (uploaded if the host copy is newer).</summary>
    public BufferView DataOn(IBackend backend) => _data.On(backend, (int)Count, write: false);

    /// <summary>The data on <paramref name="backend"/>, for writing (the host copy becomes stale).</summary>
    public BufferView MutableDataOn(IBackend backend) => _data.On(backend, (int)Count, write: true);

    /// <summary>The gradient on <paramref name="backend"/>, for reading.</summary>
    public BufferView DiffOn(IBackend backend) => _diff.On(backend, (int)Count, write: false);

    /// <summary>The gradient on <paramref name="backend"/>, for writing.</summary>
    public BufferView MutableDiffOn(IBackend backend) => _diff.On(backend, (int)Count, write: true);

    /// <summary>Zero the gradient where it is current (on the device when it lives there).</summary>
    public void ClearDiff() => _diff.Clear((int)Count);

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
        p.Data.AddRange(ConstData.ToArray());
        if (writeDiff) p.Diff.AddRange(ConstDiff.ToArray());
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
/// Storage for one array of a blob: a host array and, once a layer runs on a device backend, a
/// buffer there, kept in step as Caffe's SyncedMemory does. <see cref="Head"/> says which copy is
/// current; reading the other side copies it over first, writing a side makes it the only current
/// one. A net that never touches a device pays one null check per host access.
/// </summary>
/// <remarks>
/// The host accessors (<see cref="Host"/>, <see cref="Blob.Data"/>, <see cref="Blob.DataArray"/>)
/// hand out a mutable array, so they count as writes: the device copy is dropped from currency
/// and uploaded again before the next device read. Read-only host access
/// (<see cref="HostReadOnly"/>, <see cref="Blob.ConstData"/>) keeps both sides current. Device
/// access works the same way through <see cref="On"/>.
/// </remarks>
public sealed class BlobMemory
{
    private float[] _host = [];
    private IBackend? _backend;
    private IBackendBuffer? _device;
    private IDisposable? _upload;   // an upload in flight from _host (UploadAsync)

    /// <summary>Which copy holds the current values.</summary>
    public MemoryHead Head { get; private set; } = MemoryHead.AtHost;

    /// <summary>The host array, brought up to date, for reading and writing (the device copy becomes stale).</summary>
    public float[] Host
    {
        get
        {
            if (_device != null) ToHost(write: true);
            return _host;
        }
    }

    /// <summary>The host array, brought up to date, for reading only (both copies stay current).</summary>
    public float[] HostReadOnly
    {
        get
        {
            if (_device != null) ToHost(write: false);
            return _host;
        }
    }

    /// <summary>
    /// The host array when it holds the current values, else null; never transfers or waits (an
    /// upload in flight only reads the array). Device code uses it to check a data layer's labels
    /// on the host, where they still are, before a kernel would read a bad one.
    /// </summary>
    public float[]? HostIfCurrent => Head != MemoryHead.AtDevice ? _host : null;

    public int Capacity => _host.Length;

    /// <summary>The backend holding a device copy, if any.</summary>
    public IBackend? Backend => _backend;

    /// <summary>
    /// The first <paramref name="count"/> values on <paramref name="backend"/>, brought up to date
    /// (uploaded when the host holds the current values). With <paramref name="write"/> the device
    /// copy becomes the only current one. A copy on another backend is brought home first.
    /// </summary>
    public BufferView On(IBackend backend, int count, bool write)
    {
        if (!ReferenceEquals(backend, _backend)) Attach(backend);
        if (Head == MemoryHead.AtHost)
        {
            if (_host.Length > 0) backend.Upload(_host, new BufferView(_device!, 0, _host.Length));
            Head = MemoryHead.Synced;
        }
        if (write) Head = MemoryHead.AtDevice;
        return new BufferView(_device!, 0, count);
    }

    /// <summary>
    /// Starts copying the first <paramref name="count"/> host values to <paramref name="backend"/>
    /// without waiting (a data layer's batch, while the host goes on enqueuing the layers); the
    /// next host access waits for it. Nothing happens when the device copy is already current.
    /// </summary>
    public void UploadAsync(IBackend backend, int count)
    {
        if (!ReferenceEquals(backend, _backend)) Attach(backend);
        if (Head != MemoryHead.AtHost) return;
        WaitUpload();
        _upload = backend.UploadAsync(_host, 0, Math.Min(count, _host.Length), new BufferView(_device!, 0, Math.Min(count, _host.Length)));
        Head = MemoryHead.Synced;
    }

    private void WaitUpload()
    {
        if (_upload == null) return;
        _upload.Dispose();
        _upload = null;
    }

    /// <summary>Every value set to zero on the side that is current (no transfer).</summary>
    public void Clear(int count)
    {
        if (_device != null && Head == MemoryHead.AtDevice)
            _backend!.Fill(new BufferView(_device, 0, count), 0f);
        else
            Host.AsSpan(0, count).Clear();
    }

    /// <summary>Bring the values home and drop the device copy (a net leaving its backend).</summary>
    public void Detach()
    {
        if (_device == null) return;
        ToHost(write: true);
        WaitUpload();
        _device.Dispose();
        _device = null;
        _backend = null;
    }

    internal void EnsureCapacity(int count)
    {
        if (count <= _host.Length) return;
        // Growing keeps the values, as on the host; the device copy is rebuilt on next use.
        if (_device != null)
        {
            var backend = _backend!;
            Detach();
            Array.Resize(ref _host, count);
            _backend = backend;
            _device = backend.Allocate(count);
            Head = MemoryHead.AtHost;
            return;
        }
        Array.Resize(ref _host, count);
    }

    private void Attach(IBackend backend)
    {
        Detach();
        _backend = backend;
        _device = backend.Allocate(Math.Max(_host.Length, 1));
        Head = MemoryHead.AtHost;
    }

    private void ToHost(bool write)
    {
        WaitUpload();
        if (Head == MemoryHead.AtDevice)
        {
            if (_host.Length > 0) _backend!.Download(new BufferView(_device!, 0, _host.Length), _host);
            Head = MemoryHead.Synced;
        }
        if (write) Head = MemoryHead.AtHost;
    }
}

/// <summary>Where a <see cref="BlobMemory"/>'s current values are (Caffe's SyncedMemory head).</summary>
public enum MemoryHead
{
    /// <summary>Only the host array is current.</summary>
    AtHost,
    /// <summary>Only the device buffer is current.</summary>
    AtDevice,
    /// <summary>Both hold the same values.</summary>
    Synced,
}
