using Engine.OpenCL;

namespace Engine.Backends;

/// <summary>The `Loss` layer's mode primitives (IBackend.LossMode.cs) over the kernels of engine/OpenCL/kernels/loss.cl.</summary>
public sealed partial class OpenCLBackend
{
    private OpenCLKernel LossModeKernel(string name) => Program("loss").Kernel(name);

    public void HingePositionForward(int outer, int channels, int inner, BufferView x, BufferView labels, int? ignoreLabel, bool l2,
        in LossWeighting weights, BufferView losses, BufferView counts, BufferView grad)
    {
        NeedLabels(outer, channels, inner, x, labels, nameof(HingePositionForward));
        NeedFloats(losses, (long)outer * inner, "losses", nameof(HingePositionForward));
        NeedFloats(counts, (long)outer * inner, "counts", nameof(HingePositionForward));
        NeedFloats(grad, (long)outer * channels * inner, "the gradient", nameof(HingePositionForward));
        var w = Args(weights, x);
        Launch1D(LossModeKernel("hinge_position_forward"), (long)outer * inner, outer, channels, inner, Buf(x), x.Offset,
            Buf(labels), labels.Offset, ignoreLabel.HasValue ? 1 : 0, ignoreLabel ?? 0, l2 ? 1 : 0,
            w.w, w.wOff, w.kind, w.hasCw, w.cw, w.cwOff, Buf(losses), losses.Offset, Buf(counts), counts.Offset, Buf(grad), grad.Offset);
    }

    public void InfogainWeightedForward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel,
        BufferView h, in LossWeighting weights, BufferView losses, BufferView counts, BufferView grad)
    {
        NeedLabels(outer, channels, inner, prob, labels, nameof(InfogainWeightedForward));
        NeedFloats(h, (long)channels * channels, "H", nameof(InfogainWeightedForward));
        NeedFloats(losses, (long)outer * inner, "losses", nameof(InfogainWeightedForward));
        NeedFloats(counts, (long)outer * inner, "counts", nameof(InfogainWeightedForward));
        NeedFloats(grad, (long)outer * channels * inner, "the gradient", nameof(InfogainWeightedForward));
        var w = Args(weights, prob);
        Launch1D(LossModeKernel("infogain_weighted_forward"), (long)outer * inner, outer, channels, inner, Buf(prob), prob.Offset,
            Buf(labels), labels.Offset, ignoreLabel.HasValue ? 1 : 0, ignoreLabel ?? 0, Buf(h), h.Offset,
            w.w, w.wOff, w.kind, w.hasCw, w.cw, w.cwOff, Buf(losses), losses.Offset, Buf(counts), counts.Offset, Buf(grad), grad.Offset);
    }

    public void ContrastiveWeightedForward(int n, int channels, BufferView a, BufferView b, BufferView y, float margin, bool legacy,
        in LossWeighting weights, BufferView losses, BufferView grad)
    {
        long count = (long)n * channels;
        NeedFloats(a, count, "a", nameof(ContrastiveWeightedForward));
        NeedFloats(b, count, "b", nameof(ContrastiveWeightedForward));
        NeedFloats(y, n, "the similarity", nameof(ContrastiveWeightedForward));
        NeedFloats(losses, n, "losses", nameof(ContrastiveWeightedForward));
        NeedFloats(grad, count, "the gradient", nameof(ContrastiveWeightedForward));
        var w = Args(weights, a);
        Launch1D(LossModeKernel("contrastive_weighted_forward"), n, n, channels, Buf(a), a.Offset, Buf(b), b.Offset, Buf(y), y.Offset,
            margin, legacy ? 1 : 0, w.w, w.wOff, w.kind, w.hasCw, w.cw, w.cwOff, Buf(losses), losses.Offset, Buf(grad), grad.Offset);
    }
}
