using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Graph;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Softmax along `axis` (default 1): y_c = e^(x_c − max) / Σ_k e^(x_k − max), the maximum
/// subtracted so large scores never overflow. Backward is the exact Jacobian,
/// dx = (dy − Σ_c dy_c·y_c)·y, unless the net has paired this layer with a `Loss` layer in mode
/// MultinomialLogistic_StableSoftmax (<see cref="PassThrough"/>): that loss writes the fused
/// gradient p − onehot itself, and backward copies the top gradient through unchanged.
/// The kernels are static so SoftmaxWithLoss computes its probabilities with the same code.
/// </summary>
[LayerType("Softmax")]
public sealed class SoftmaxLayer : NeuronLayer, IStableGradientSoftmax
{
    private int _outer, _channels, _inner;
    // Per position along the inner axes: the running maximum and the sum of exponentials (forward)
    // or the dot product Σ dy·y (backward).
    private float[] _scratch = [];

    public SoftmaxLayer(LayerParameter param) : base(param) { }

    public bool StableGradient => Param.SoftmaxParam?.StableGradient ?? true;

    public bool StableGradientExplicit => Param.SoftmaxParam?.HasStableGradient ?? false;

    public bool PassThrough { get; set; }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        base.Reshape(bottom, top);
        var b = bottom[0];
        int axis = Param.SoftmaxParam?.Axis ?? 1;
        if (axis < -b.NumAxes || axis >= b.NumAxes)
            throw Error($"softmax_param.axis {axis} is out of range for the {b.NumAxes}-D bottom \"{b.Name}\" {b.ShapeString}");
        if (axis < 0) axis += b.NumAxes;
        (_outer, _channels, _inner) = ((int)b.CountRange(0, axis), b.Dim(axis), (int)b.CountFrom(axis + 1));
        EnsureScratch(ref _scratch, _inner);
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        Compute(bottom[0].Data, top[0].Data, _outer, _channels, _inner, _scratch);

    public override void Backward(IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        if (PassThrough)
        {
            if (!InPlace(bottom, top)) top[0].Diff.CopyTo(bottom[0].Diff);
            return;
        }
        Jacobian(top[0].Data, top[0].Diff, bottom[0].Diff, _outer, _channels, _inner, _scratch);
    }

    public override bool RunsOnDevice => true;

    public override void ForwardOn(IBackend backend, IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top) =>
        backend.SoftmaxForward(_outer, _channels, _inner, bottom[0].DataOn(backend), top[0].MutableDataOn(backend));

    public override void BackwardOn(IBackend backend, IReadOnlyList<Blob> top, IReadOnlyList<bool> propagateDown, IReadOnlyList<Blob> bottom)
    {
        if (!propagateDown[0]) return;
        if (PassThrough)
        {
            if (!InPlace(bottom, top)) backend.Copy(top[0].DiffOn(backend), bottom[0].MutableDiffOn(backend));
            return;
        }
        backend.SoftmaxBackward(_outer, _channels, _inner, top[0].DataOn(backend), top[0].DiffOn(backend), bottom[0].MutableDiffOn(backend));
    }

    /// <summary>Grows <paramref name="scratch"/> to the 2·inner floats the kernels need.</summary>
    public static void EnsureScratch(ref float[] scratch, int inner)
    {
        if (scratch.Length < 2 * inner) scratch = new float[2 * inner];
    }

    /// <summary>
    /// y = softmax(x) along the middle axis of an outer×channels×inner array. x and y may be the
    /// same span. <paramref name="scratch"/> holds at least 2·inner floats.
    /// </summary>
    public static void Compute(ReadOnlySpan<float> x, Span<float> y, int outer, int channels, int inner, Span<float> scratch)
    {
        int dim = channels * inner;
        if (dim == 0) return;
        if (inner == 1)
        {
            for (int n = 0; n < outer; n++)
            {
                var xr = x.Slice(n * dim, dim);
                var yr = y.Slice(n * dim, dim);
                float max = TensorPrimitives.Max(xr);
                TensorPrimitives.Subtract(xr, max, yr);
                TensorPrimitives.Exp(yr, yr);
                TensorPrimitives.Divide(yr, TensorPrimitives.Sum(yr), yr);
            }
            return;
        }
        var max2 = scratch[..inner];
        var sum = scratch.Slice(inner, inner);
        for (int n = 0; n < outer; n++)
        {
            var xn = x.Slice(n * dim, dim);
            var yn = y.Slice(n * dim, dim);
            xn[..inner].CopyTo(max2);
            for (int c = 1; c < channels; c++) TensorPrimitives.Max(max2, xn.Slice(c * inner, inner), max2);
            sum.Clear();
            for (int c = 0; c < channels; c++)
            {
                var yc = yn.Slice(c * inner, inner);
                TensorPrimitives.Subtract(xn.Slice(c * inner, inner), max2, yc);
                TensorPrimitives.Exp(yc, yc);
                TensorPrimitives.Add(sum, yc, sum);
            }
            for (int c = 0; c < channels; c++)
            {
                var yc = yn.Slice(c * inner, inner);
                TensorPrimitives.Divide(yc, sum, yc);
            }
        }
    }

    /// <summary>
    /// dx = (dy − Σ_c dy_c·y_c)·y along the middle axis. dy and dx may be the same span.
    /// <paramref name="scratch"/> holds at least inner floats.
    /// </summary>
    public static void Jacobian(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int outer, int channels, int inner, Span<float> scratch)
    {
        int dim = channels * inner;
        if (inner == 1)
        {
            for (int n = 0; n < outer; n++)
            {
                var yr = y.Slice(n * dim, dim);
                var dxr = dx.Slice(n * dim, dim);
                float dot = TensorPrimitives.Dot(dy.Slice(n * dim, dim), yr);
                TensorPrimitives.Subtract(dy.Slice(n * dim, dim), dot, dxr);
                TensorPrimitives.Multiply(dxr, yr, dxr);
            }
            return;
        }
        var dots = scratch[..inner];
        for (int n = 0; n < outer; n++)
        {
            var yn = y.Slice(n * dim, dim);
            var dyn = dy.Slice(n * dim, dim);
            var dxn = dx.Slice(n * dim, dim);
            dots.Clear();
            for (int c = 0; c < channels; c++)
                TensorPrimitives.MultiplyAdd(dyn.Slice(c * inner, inner), yn.Slice(c * inner, inner), dots, dots);
            for (int c = 0; c < channels; c++)
            {
                var dxc = dxn.Slice(c * inner, inner);
                TensorPrimitives.Subtract(dyn.Slice(c * inner, inner), dots, dxc);
                TensorPrimitives.Multiply(dxc, yn.Slice(c * inner, inner), dxc);
            }
        }
    }
}
