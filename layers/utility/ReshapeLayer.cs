using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Gives the bottom a new shape without copying (reshape_param). The axes [axis, axis+num_axes)
/// of the bottom (default: all) are replaced by reshape_param.shape, where 0 copies the bottom's
/// dimension at that position and one −1 is inferred from the count. The top shares the bottom's
/// data and gradient. Not in place.
/// </summary>
[LayerType("Reshape")]
public sealed class ReshapeLayer : Layer
{
    private int[] _spec = [];

    public ReshapeLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.ReshapeParam ?? throw Error("reshape_param with a shape is required");
        if (p.Shape == null) throw Error("reshape_param.shape is required");
        _spec = new int[p.Shape.Dim.Count];
        int inferred = 0;
        for (int i = 0; i < _spec.Length; i++)
        {
            long d = p.Shape.Dim[i];
            if (d < -1 || d > int.MaxValue) throw Error($"reshape_param.shape dim {i} is {d}; dims are positive, 0 (copy) or -1 (infer)");
            if (d == -1 && ++inferred > 1) throw Error("reshape_param.shape may have at most one -1 (inferred) dim");
            _spec[i] = (int)d;
        }
        if (p.NumAxes < -1) throw Error($"reshape_param.num_axes must be -1 (all) or ≥ 0, got {p.NumAxes}");
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (ReferenceEquals(top[0], b)) throw Error($"top \"{top[0].Name}\" is the bottom itself; Reshape does not work in place");
        var p = Param.ReshapeParam;
        int n = b.NumAxes;
        int start = p.Axis >= 0 ? p.Axis : n + p.Axis + 1;
        if (start < 0 || start > n) throw Error($"reshape_param.axis {p.Axis} is out of range for the {n}-D bottom \"{b.Name}\" {b.ShapeString}");
        int end = p.NumAxes == -1 ? n : start + p.NumAxes;
        if (end > n) throw Error($"reshape_param.axis {p.Axis} with num_axes {p.NumAxes} runs past the {n}-D bottom \"{b.Name}\" {b.ShapeString}");

        var shape = new int[start + _spec.Length + (n - end)];
        for (int i = 0; i < start; i++) shape[i] = b.Dim(i);
        int inferAt = -1;
        long known = b.CountRange(0, start) * b.CountRange(end, n);
        for (int i = 0; i < _spec.Length; i++)
        {
            int d = _spec[i];
            if (d == 0)
            {
                if (start + i >= n) throw Error($"reshape_param.shape dim {i} is 0 (copy), but the bottom \"{b.Name}\" {b.ShapeString} has no axis {start + i}");
                d = b.Dim(start + i);
            }
            if (d == -1) inferAt = start + i;
            else known *= d;
            shape[start + i] = d;
        }
        for (int i = end; i < n; i++) shape[start + _spec.Length + (i - end)] = b.Dim(i);
        if (inferAt >= 0)
        {
            if (known == 0 || b.Count % known != 0)
                throw Error($"cannot infer the -1 dim: bottom \"{b.Name}\" {b.ShapeString} has {b.Count} elements, not a multiple of {known} ({Spec()})");
            shape[inferAt] = checked((int)(b.Count / known));
        }
        long count = 1;
        foreach (var d in shape) count *= d;
        if (count != b.Count)
            throw Error($"shape ({string.Join(" ", shape)}) has {count} elements but the bottom \"{b.Name}\" {b.ShapeString} has {b.Count} ({Spec()})");
        top[0].Reshape(shape);
        top[0].ShareData(b);
        top[0].ShareDiff(b);
    }

    private string Spec() => $"reshape_param.shape {{ {string.Join(" ", _spec.Select(d => $"dim: {d}"))} }}";

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) { }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom) { }

    // The top shares the bottom's data and gradient, so their device buffer too (no copy): the
    // device code only makes sure the values are on the device.
    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        bottom[0].DataOn(backend);

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (propagateDown[0]) bottom[0].DiffOn(backend);
    }
}
