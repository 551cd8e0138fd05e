using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Collapses the axes axis..end_axis (flatten_param: axis 1, end_axis −1 by default) into one:
/// a 2×3×4×5 bottom becomes 2×60. The top shares the bottom's data and gradient, so forward and
/// backward do nothing. Not in place.
/// </summary>
[LayerType("Flatten")]
public sealed class FlattenLayer : Layer
{
    public FlattenLayer(LayerParameter param) : base(param) { }

    public override int ExactBottoms => 1;
    public override int ExactTops => 1;

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var b = bottom[0];
        if (ReferenceEquals(top[0], b)) throw Error($"top \"{top[0].Name}\" is the bottom itself; Flatten does not work in place");
        var p = Param.FlattenParam ?? new FlattenParameter();
        int start = Axis(b, p.Axis, "axis"), end = Axis(b, p.EndAxis, "end_axis");
        if (end < start) throw Error($"flatten_param.end_axis {p.EndAxis} comes before axis {p.Axis} for bottom \"{b.Name}\" {b.ShapeString}");
        var shape = new List<int>();
        for (int i = 0; i < start; i++) shape.Add(b.Dim(i));
        shape.Add(checked((int)b.CountRange(start, end + 1)));
        for (int i = end + 1; i < b.NumAxes; i++) shape.Add(b.Dim(i));
        top[0].Reshape(shape);
        top[0].ShareData(b);
        top[0].ShareDiff(b);
    }

    private int Axis(Blob b, int axis, string field)
    {
        if (axis < -b.NumAxes || axis >= b.NumAxes)
            throw Error($"flatten_param.{field} {axis} is out of range for the {b.NumAxes}-D bottom \"{b.Name}\" {b.ShapeString}");
        return axis < 0 ? axis + b.NumAxes : axis;
    }

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
