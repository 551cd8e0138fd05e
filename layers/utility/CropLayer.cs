using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Crops bottom 0 to the shape of bottom 1 on the axes from crop_param.axis (default 2) on; the
/// earlier axes keep bottom 0's size. The window starts at crop_param.offset: none = 0 on every
/// cropped axis, one value for all of them, or one per cropped axis. Backward writes bottom 0's
/// gradient (zero outside the window); bottom 1 only gives a shape and gets no gradient.
/// </summary>
[LayerType("Crop")]
public sealed class CropLayer : Layer
{
    private int _axis;
    private int[] _offsets = [], _index = [];
    private long[] _bottomStrides = [], _topStrides = [];

    public CropLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 2;
    public override int ExactTops => 1;

    public override bool CanBackward(int bottomIndex) => bottomIndex == 0;

    public override bool AllowForceBackward(int bottomIndex) => bottomIndex == 0;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        Blob a = bottom[0], b = bottom[1];
        if (ReferenceEquals(top[0], a) || ReferenceEquals(top[0], b)) throw Error($"top \"{top[0].Name}\" is also a bottom; Crop does not work in place");
        if (a.NumAxes != b.NumAxes)
            throw Error($"bottom \"{a.Name}\" {a.ShapeString} and the reference \"{b.Name}\" {b.ShapeString} must have the same number of axes");
        int n = a.NumAxes;
        var p = Param.CropParam ?? new CropParameter();
        if (p.Axis < -n || p.Axis >= n) throw Error($"crop_param.axis {p.Axis} is out of range for the {n}-D bottom \"{a.Name}\" {a.ShapeString}");
        _axis = p.Axis < 0 ? p.Axis + n : p.Axis;
        int cropped = n - _axis;
        if (p.Offset.Count > 1 && p.Offset.Count != cropped)
            throw Error($"{p.Offset.Count} crop_param.offset values for the {cropped} cropped axes ({_axis}..{n - 1}); give none, one, or one per axis");
        _offsets = new int[n];
        var shape = new int[n];
        for (int i = 0; i < n; i++)
        {
            if (i < _axis) { shape[i] = a.Dim(i); continue; }
            long off = p.Offset.Count == 0 ? 0 : p.Offset.Count == 1 ? p.Offset[0] : p.Offset[i - _axis];
            if (off + b.Dim(i) > a.Dim(i))
                throw Error($"on axis {i} offset {off} plus the reference \"{b.Name}\" {b.ShapeString} size {b.Dim(i)} exceeds bottom \"{a.Name}\" {a.ShapeString} size {a.Dim(i)}");
            _offsets[i] = (int)off;
            shape[i] = b.Dim(i);
        }
        top[0].Reshape(shape);
        _index = new int[n];
        _bottomStrides = new long[n];
        _topStrides = new long[n];
        for (int i = 0; i < n; i++)
        {
            _bottomStrides[i] = a.CountFrom(i + 1);
            _topStrides[i] = top[0].CountFrom(i + 1);
        }
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        Copy(bottom[0].Data, top[0].Data, top[0], toTop: true);

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        Span<float> dx = bottom[0].Diff;
        dx.Clear();
        Copy(dx, top[0].Diff, top[0], toTop: false);
    }

    /// <summary>Walks every row (all axes but the last) of the top and copies it from or to bottom 0.</summary>
    private void Copy(Span<float> bottomSpan, Span<float> topSpan, Blob t, bool toTop)
    {
        int n = t.NumAxes;
        if (t.Count == 0) return;
        if (n == 0) { if (toTop) topSpan[0] = bottomSpan[0]; else bottomSpan[0] = topSpan[0]; return; }
        int row = t.Dim(n - 1);
        Array.Clear(_index);
        while (true)
        {
            long src = _offsets[n - 1], dst = 0;
            for (int i = 0; i < n - 1; i++)
            {
                src += (_index[i] + _offsets[i]) * _bottomStrides[i];
                dst += _index[i] * _topStrides[i];
            }
            if (toTop) bottomSpan.Slice((int)src, row).CopyTo(topSpan.Slice((int)dst, row));
            else topSpan.Slice((int)dst, row).CopyTo(bottomSpan.Slice((int)src, row));
            int axis = n - 2;
            while (axis >= 0 && ++_index[axis] == t.Dim(axis)) _index[axis--] = 0;
            if (axis < 0) return;
        }
    }

    // On a device the window is copied with strided block copies over the top's axes: adjacent
    // axes that are contiguous in both blobs merge into one, the last three go to one CopyBlocks
    // call and any earlier ones (only when several leading axes are cropped) are looped over here.
    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        DeviceCopy(backend, bottom[0].DataOn(backend), top[0].MutableDataOn(backend), top[0], toTop: true);

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        var dy = top[0].DiffOn(backend);
        var dx = bottom[0].MutableDiffOn(backend);
        backend.Fill(dx, 0f);
        DeviceCopy(backend, dx, dy, top[0], toTop: false);
    }

    private void DeviceCopy(IBackend backend, BufferView bottomView, BufferView topView, Blob t, bool toTop)
    {
        if (t.Count == 0) return;
        // (size, bottom stride, top stride) per merged axis, and where the window starts in bottom 0.
        var axes = new List<(int Size, int Bottom, int Top)>();
        long start = 0;
        for (int i = 0; i < t.NumAxes; i++)
        {
            start += _offsets[i] * _bottomStrides[i];
            int size = t.Dim(i), bs = (int)_bottomStrides[i], ts = (int)_topStrides[i];
            if (axes.Count > 0 && axes[^1].Bottom == (long)size * bs && axes[^1].Top == (long)size * ts)
                axes[^1] = (axes[^1].Size * size, bs, ts);
            else
                axes.Add((size, bs, ts));
        }
        while (axes.Count < 3) axes.Insert(0, (1, 0, 0));
        int lead = axes.Count - 3;
        var (blocks, rows, cols) = (axes[lead].Size, axes[lead + 1].Size, axes[lead + 2].Size);
        var index = new int[lead];
        while (true)
        {
            long b = start, tp = 0;
            for (int i = 0; i < lead; i++)
            {
                b += (long)index[i] * axes[i].Bottom;
                tp += (long)index[i] * axes[i].Top;
            }
            var bv = bottomView.Slice((int)b, bottomView.Count - (int)b);
            var tv = topView.Slice((int)tp, topView.Count - (int)tp);
            if (toTop) backend.CopyBlocks(blocks, rows, cols, bv, axes[lead].Bottom, axes[lead + 1].Bottom, tv, axes[lead].Top, axes[lead + 1].Top);
            else backend.CopyBlocks(blocks, rows, cols, tv, axes[lead].Top, axes[lead + 1].Top, bv, axes[lead].Bottom, axes[lead + 1].Bottom);
            int axis = lead - 1;
            while (axis >= 0 && ++index[axis] == axes[axis].Size) index[axis--] = 0;
            if (axis < 0) return;
        }
    }
}
