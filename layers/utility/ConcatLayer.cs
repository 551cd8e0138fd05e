using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Joins the bottoms along concat_param.axis (default 1; the legacy concat_dim is accepted); all
/// other dimensions must agree. With one top every bottom goes into it (a single bottom is shared,
/// not copied). Marvin's form: with N bottoms and M &gt; 1 tops the bottoms split into M
/// consecutive groups of N/M (at least 2 each), group g concatenated into top g.
/// Backward slices each top's gradient back to its bottoms.
/// </summary>
[LayerType("Concat")]
public sealed class ConcatLayer : Layer
{
    private int _group;
    private int[] _axes = [];

    public ConcatLayer(LayerParameter param) : base(param) { }

    public override int MinBottoms => 1;
    public override int MinTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.ConcatParam;
        if (p != null && p.HasAxis && p.HasConcatDim) throw Error("give either concat_param.axis or the legacy concat_dim, not both");
        if (top.Count > 1 && (bottom.Count % top.Count != 0 || bottom.Count / top.Count < 2))
            throw Error($"with {top.Count} tops the {bottom.Count} bottoms must split into {top.Count} groups of at least 2 (a multiple of {top.Count})");
        _group = bottom.Count / top.Count;
        _axes = new int[top.Count];
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.ConcatParam ?? new ConcatParameter();
        for (int g = 0; g < top.Count; g++)
        {
            var first = bottom[g * _group];
            int axis;
            if (p.HasConcatDim)
            {
                axis = checked((int)p.ConcatDim);
                if (axis >= first.NumAxes) throw Error($"concat_param.concat_dim {axis} is out of range for the {first.NumAxes}-D bottom \"{first.Name}\" {first.ShapeString}");
            }
            else
            {
                if (p.Axis < -first.NumAxes || p.Axis >= first.NumAxes)
                    throw Error($"concat_param.axis {p.Axis} is out of range for the {first.NumAxes}-D bottom \"{first.Name}\" {first.ShapeString}");
                axis = p.Axis < 0 ? p.Axis + first.NumAxes : p.Axis;
            }
            _axes[g] = axis;
            long along = 0;
            for (int i = g * _group; i < (g + 1) * _group; i++)
            {
                var b = bottom[i];
                if (ReferenceEquals(b, top[g])) throw Error($"top \"{top[g].Name}\" is also a bottom; Concat does not work in place");
                bool same = b.NumAxes == first.NumAxes;
                for (int a = 0; same && a < b.NumAxes; a++) same = a == axis || b.Dim(a) == first.Dim(a);
                if (!same)
                    throw Error($"bottom \"{b.Name}\" {b.ShapeString} does not match bottom \"{first.Name}\" {first.ShapeString} on the axes other than the concat axis {axis}");
                along += b.Dim(axis);
            }
            var shape = first.Shape.ToArray();
            shape[axis] = checked((int)along);
            top[g].Reshape(shape);
            if (_group == 1)
            {
                top[g].ShareData(first);
                top[g].ShareDiff(first);
            }
        }
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (_group == 1) return;
        for (int g = 0; g < top.Count; g++)
        {
            var t = top[g];
            int axis = _axes[g];
            Span<float> y = t.Data;
            int outer = (int)t.CountRange(0, axis), topInner = (int)t.CountFrom(axis);
            int offset = 0;
            for (int i = g * _group; i < (g + 1) * _group; i++)
            {
                var b = bottom[i];
                ReadOnlySpan<float> x = b.Data;
                int inner = (int)b.CountFrom(axis);
                for (int n = 0; n < outer; n++) x.Slice(n * inner, inner).CopyTo(y.Slice(n * topInner + offset, inner));
                offset += inner;
            }
        }
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (_group == 1) return;
        for (int g = 0; g < top.Count; g++)
        {
            var t = top[g];
            int axis = _axes[g];
            ReadOnlySpan<float> dy = t.Diff;
            int outer = (int)t.CountRange(0, axis), topInner = (int)t.CountFrom(axis);
            int offset = 0;
            for (int i = g * _group; i < (g + 1) * _group; i++)
            {
                var b = bottom[i];
                int inner = (int)b.CountFrom(axis);
                if (propagateDown[i])
                {
                    Span<float> dx = b.Diff;
                    for (int n = 0; n < outer; n++) dy.Slice(n * topInner + offset, inner).CopyTo(dx.Slice(n * inner, inner));
                }
                offset += inner;
            }
        }
    }

    // Each bottom is an outer × inner block written at its offset in rows of topInner: one
    // strided block copy per bottom. A single bottom per top is shared (no copy).
    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (_group == 1)
        {
            for (int g = 0; g < top.Count; g++) bottom[g].DataOn(backend);
            return;
        }
        for (int g = 0; g < top.Count; g++)
        {
            var t = top[g];
            int axis = _axes[g];
            var y = t.MutableDataOn(backend);
            if (t.Count == 0) continue;
            int outer = (int)t.CountRange(0, axis), topInner = (int)t.CountFrom(axis);
            int offset = 0;
            for (int i = g * _group; i < (g + 1) * _group; i++)
            {
                int inner = (int)bottom[i].CountFrom(axis);
                backend.CopyBlocks(1, outer, inner, bottom[i].DataOn(backend), 0, inner, y.Slice(offset, y.Count - offset), 0, topInner);
                offset += inner;
            }
        }
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (_group == 1)
        {
            for (int g = 0; g < top.Count; g++)
                if (propagateDown[g]) bottom[g].DiffOn(backend);
            return;
        }
        for (int g = 0; g < top.Count; g++)
        {
            var t = top[g];
            int axis = _axes[g];
            var dy = t.DiffOn(backend);
            if (t.Count == 0) continue;
            int outer = (int)t.CountRange(0, axis), topInner = (int)t.CountFrom(axis);
            int offset = 0;
            for (int i = g * _group; i < (g + 1) * _group; i++)
            {
                int inner = (int)bottom[i].CountFrom(axis);
                if (propagateDown[i])
                    backend.CopyBlocks(1, outer, inner, dy.Slice(offset, dy.Count - offset), 0, topInner, bottom[i].MutableDiffOn(backend), 0, inner);
                offset += inner;
            }
        }
    }
}
