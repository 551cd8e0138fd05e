using Engine.Backends;
using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Where a Scale or Bias parameter sits in the bottom: the bottom seen as outer × dim × inner,
/// the parameter having dim values and shape bottom.shape[axis .. axis + k).
/// </summary>
internal readonly record struct BroadcastAxes(int Axis, int Outer, int Dim, int Inner)
{
    /// <summary>The parameter's shape for a learned blob: num_axes −1 = to the end, 0 = a scalar.</summary>
    public static int[] ParamShape(Blob bottom, int axis, int numAxes, Func<string, Exception> error)
    {
        int a = Canonical(bottom, axis, error);
        if (numAxes < -1) throw error($"num_axes must be −1 (to the last axis) or more, got {numAxes}");
        int end = numAxes == -1 ? bottom.NumAxes : a + numAxes;
        if (end > bottom.NumAxes)
            throw error($"axis {axis} with num_axes {numAxes} goes past the last axis of bottom \"{bottom.Name}\" {bottom.ShapeString}");
        return bottom.Shape.Skip(a).Take(end - a).ToArray();
    }

    /// <summary>Checks <paramref name="param"/>'s shape against the bottom from <paramref name="axis"/> on (a scalar fits anywhere).</summary>
    public static BroadcastAxes Of(Blob bottom, Blob param, int axis, Func<string, Exception> error)
    {
        int a = param.NumAxes == 0 ? 0 : Canonical(bottom, axis, error);
        if (a + param.NumAxes > bottom.NumAxes)
            throw error($"parameter {param.ShapeString} does not fit bottom \"{bottom.Name}\" {bottom.ShapeString} from axis {a}");
        for (int i = 0; i < param.NumAxes; i++)
            if (param.Dim(i) != bottom.Dim(a + i))
                throw error($"parameter {param.ShapeString} does not match bottom \"{bottom.Name}\" {bottom.ShapeString} from axis {a}");
        return new BroadcastAxes(a, (int)bottom.CountRange(0, a), (int)param.Count, (int)bottom.CountFrom(a + param.NumAxes));
    }

    private static int Canonical(Blob bottom, int axis, Func<string, Exception> error)
    {
        int a = axis < 0 ? axis + bottom.NumAxes : axis;
        if (a < 0 || a >= Math.Max(1, bottom.NumAxes))
            throw error($"axis {axis} is out of range for bottom \"{bottom.Name}\" {bottom.ShapeString}");
        return a;
    }
}

/// <summary>
/// Caffe's "Bias": top = bottom[0] + b, b broadcast along the bottom's axes [axis, axis + k).
/// One bottom: b is learned, shape bottom.shape[axis .. axis + num_axes) (num_axes −1 = to the
/// end, 0 = a scalar), filled by `filler` (default constant 0). Two bottoms: b is bottom[1],
/// placed at `axis`, and gets a gradient too. May run in place.
/// </summary>
[LayerType("Bias")]
public sealed class BiasLayer : Layer
{
    private BroadcastAxes _ax;

    public BiasLayer(LayerParameter param) : base(param) { }

    public override int MinBottoms => 1;
    public override int MaxBottoms => 2;
    public override int ExactTops => 1;

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        if (bottom.Count > 1) return;
        var p = Param.BiasParam ?? new BiasParameter();
        var shape = BroadcastAxes.ParamShape(bottom[0], p.Axis, p.NumAxes, Error);
        if (Blobs.Count > 0)
        {
            if (Blobs.Count != 1) throw Error($"has {Blobs.Count} blobs, expected 1 (the bias)");
            if (!Blobs[0].ShapeEquals(shape)) throw Error($"bias shape {Blobs[0].ShapeString} does not match ({string.Join(" ", shape)})");
            return;
        }
        var bias = new Blob("", shape);
        Filler.Fill(bias, p.Filler, FillerRng, Name);
        Blobs.Add(bias);
        ParamPropagateDown = [true];
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var bias = bottom.Count > 1 ? bottom[1] : Blobs[0];
        _ax = BroadcastAxes.Of(bottom[0], bias, (Param.BiasParam ?? new BiasParameter()).Axis, Error);
        if (top[0] != bottom[0]) top[0].ReshapeLike(bottom[0]);
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        ReadOnlySpan<float> bias = bottom.Count > 1 ? bottom[1].Data : Blobs[0].Data;
        Add(bottom[0].Data, bias, top[0].Data, _ax);
    }

    /// <summary>y = x + b broadcast (y may be x).</summary>
    internal static void Add(ReadOnlySpan<float> x, ReadOnlySpan<float> b, Span<float> y, BroadcastAxes ax)
    {
        int o = 0;
        for (int i = 0; i < ax.Outer; i++)
            for (int d = 0; d < ax.Dim; d++, o += ax.Inner)
                System.Numerics.Tensors.TensorPrimitives.Add(x.Slice(o, ax.Inner), b[d], y.Slice(o, ax.Inner));
    }

    /// <summary>db (+)= Σ dy over the outer and inner axes.</summary>
    internal static void SumInto(ReadOnlySpan<float> dy, Span<float> db, BroadcastAxes ax, bool accumulate)
    {
        if (!accumulate) db.Clear();
        int o = 0;
        for (int i = 0; i < ax.Outer; i++)
            for (int d = 0; d < ax.Dim; d++, o += ax.Inner)
                db[d] += System.Numerics.Tensors.TensorPrimitives.Sum(dy.Slice(o, ax.Inner));
    }

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        ReadOnlySpan<float> dy = top[0].Diff;
        // The bias gradients first: in place, dx is the same memory as dy and is not changed.
        if (bottom.Count > 1 && propagateDown[1]) SumInto(dy, bottom[1].Diff, _ax, accumulate: false);
        if (bottom.Count == 1 && ParamPropagateDown.Length > 0 && ParamPropagateDown[0]) SumInto(dy, Blobs[0].Diff, _ax, accumulate: true);
        if (propagateDown[0] && top[0] != bottom[0]) dy.CopyTo(bottom[0].Diff);
    }

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var bias = (bottom.Count > 1 ? bottom[1] : Blobs[0]).DataOn(backend);
        backend.ChannelAffine(_ax.Outer, _ax.Dim, _ax.Inner, bottom[0].DataOn(backend), null, bias, top[0].MutableDataOn(backend));
    }

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        var dy = top[0].DiffOn(backend);
        if (bottom.Count > 1 && propagateDown[1])
            backend.ChannelSum(ChannelReduction.Sum, _ax.Outer, _ax.Dim, _ax.Inner, dy, null, 1f, 0f, bottom[1].MutableDiffOn(backend));
        if (bottom.Count == 1 && ParamPropagateDown.Length > 0 && ParamPropagateDown[0])
            backend.ChannelSum(ChannelReduction.Sum, _ax.Outer, _ax.Dim, _ax.Inner, dy, null, 1f, 1f, Blobs[0].MutableDiffOn(backend));
        if (propagateDown[0] && top[0] != bottom[0]) backend.Copy(dy, bottom[0].MutableDiffOn(backend));
    }
}
