using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Cuts the bottom along slice_param.axis (default 1; the legacy slice_dim is accepted) into the
/// tops: at the slice_point positions (one fewer than the tops, increasing), or into equal parts
/// when none are given. A single top shares the bottom. Backward copies the tops' gradients back.
/// </summary>
[LayerType("Slice")]
public sealed class SliceLayer : Layer
{
    private int _axis;
    private int[] _sizes = [];

    public SliceLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int MinTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.SliceParam;
        if (p != null && p.HasAxis && p.HasSliceDim) throw Error("give either slice_param.axis or the legacy slice_dim, not both");
        if (p != null && p.SlicePoint.Count > 0 && p.SlicePoint.Count != top.Count - 1)
            throw Error($"{p.SlicePoint.Count} slice_point values for {top.Count} tops; give one fewer than the tops");
        _sizes = new int[top.Count];
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        var p = Param.SliceParam ?? new SliceParameter();
        if (p.HasSliceDim)
        {
            _axis = checked((int)p.SliceDim);
            if (_axis >= b.NumAxes) throw Error($"slice_param.slice_dim {_axis} is out of range for the {b.NumAxes}-D bottom \"{b.Name}\" {b.ShapeString}");
        }
        else
        {
            if (p.Axis < -b.NumAxes || p.Axis >= b.NumAxes)
                throw Error($"slice_param.axis {p.Axis} is out of range for the {b.NumAxes}-D bottom \"{b.Name}\" {b.ShapeString}");
            _axis = p.Axis < 0 ? p.Axis + b.NumAxes : p.Axis;
        }
        int dim = b.Dim(_axis);
        if (p.SlicePoint.Count > 0)
        {
            int prev = 0;
            for (int i = 0; i < p.SlicePoint.Count; i++)
            {
                long point = p.SlicePoint[i];
                if (point <= prev || point >= dim)
                    throw Error($"slice_point {point} must be increasing and inside (0, {dim}) for axis {_axis} of bottom \"{b.Name}\" {b.ShapeString}");
                _sizes[i] = (int)point - prev;
                prev = (int)point;
            }
            _sizes[^1] = dim - prev;
        }
        else
        {
            if (dim % top.Count != 0)
                throw Error($"axis {_axis} of bottom \"{b.Name}\" {b.ShapeString} has {dim} entries, which do not split evenly into {top.Count} tops");
            Array.Fill(_sizes, dim / top.Count);
        }
        var shape = b.Shape.ToArray();
        for (int t = 0; t < top.Count; t++)
        {
            if (ReferenceEquals(top[t], b)) throw Error($"top \"{top[t].Name}\" is the bottom itself; Slice does not work in place");
            shape[_axis] = _sizes[t];
            top[t].Reshape(shape);
        }
        if (top.Count == 1)
        {
            top[0].ShareData(b);
            top[0].ShareDiff(b);
        }
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (top.Count == 1) return;
        var b = bottom[0];
        ReadOnlySpan<float> x = b.Data;
        int outer = (int)b.CountRange(0, _axis), bottomInner = (int)b.CountFrom(_axis), unit = (int)b.CountFrom(_axis + 1);
        int offset = 0;
        for (int t = 0; t < top.Count; t++)
        {
            Span<float> y = top[t].Data;
            int inner = _sizes[t] * unit;
            for (int n = 0; n < outer; n++) x.Slice(n * bottomInner + offset, inner).CopyTo(y.Slice(n * inner, inner));
            offset += inner;
        }
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0] || top.Count == 1) return;
        var b = bottom[0];
        Span<float> dx = b.Diff;
        int outer = (int)b.CountRange(0, _axis), bottomInner = (int)b.CountFrom(_axis), unit = (int)b.CountFrom(_axis + 1);
        int offset = 0;
        for (int t = 0; t < top.Count; t++)
        {
            ReadOnlySpan<float> dy = top[t].Diff;
            int inner = _sizes[t] * unit;
            for (int n = 0; n < outer; n++) dy.Slice(n * inner, inner).CopyTo(dx.Slice(n * bottomInner + offset, inner));
            offset += inner;
        }
    }

    // Each top is an outer × inner block read at its offset from rows of bottomInner: one strided
    // block copy per top. A single top is shared (no copy).
    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        var x = b.DataOn(backend);
        if (top.Count == 1) return;
        int outer = (int)b.CountRange(0, _axis), bottomInner = (int)b.CountFrom(_axis), unit = (int)b.CountFrom(_axis + 1);
        int offset = 0;
        for (int t = 0; t < top.Count; t++)
        {
            int inner = _sizes[t] * unit;
            if (b.Count == 0) { top[t].MutableDataOn(backend); continue; }
            backend.CopyBlocks(1, outer, inner, x.Slice(offset, x.Count - offset), 0, bottomInner, top[t].MutableDataOn(backend), 0, inner);
            offset += inner;
        }
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        var b = bottom[0];
        if (top.Count == 1)
        {
            b.DiffOn(backend);
            return;
        }
        var dx = b.MutableDiffOn(backend);
        if (b.Count == 0) return;
        int outer = (int)b.CountRange(0, _axis), bottomInner = (int)b.CountFrom(_axis), unit = (int)b.CountFrom(_axis + 1);
        int offset = 0;
        for (int t = 0; t < top.Count; t++)
        {
            int inner = _sizes[t] * unit;
            backend.CopyBlocks(1, outer, inner, top[t].DiffOn(backend), 0, inner, dx.Slice(offset, dx.Count - offset), 0, bottomInner);
            offset += inner;
        }
    }
}
