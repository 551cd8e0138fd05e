using Engine.OpenCL;

namespace Engine.Backends;

/// <summary>The loss primitives (IBackend.Loss.cs) over the kernels of engine/OpenCL/kernels/loss.cl.</summary>
public sealed partial class OpenCLBackend
{
    private OpenCLKernel LossKernel(string name) => Program("loss").Kernel(name);

    /// <summary>Work-group size of the one-group reduction: a power of two, at most 256 (the kernel's local arrays).</summary>
    private long ReduceGroup()
    {
        long size = 1;
        while (size * 2 <= Math.Min(256, Context.Device.MaxWorkGroupSize)) size *= 2;
        return size;
    }

    public void LossReduce(BufferView losses, BufferView? counts, float divisor, BufferView top, BufferView normalizer)
    {
        if (counts is { } cv) SameCount(losses.Count, cv.Count, nameof(LossReduce));
        if (top.Count < 1 || normalizer.Count < 1) throw new ArgumentException("LossReduce: the top and the normalizer need one element each");
        var c = counts ?? losses;
        long group = ReduceGroup();
        LossKernel("loss_reduce").Launch([group], [group], losses.Count, Buf(losses), losses.Offset,
            counts.HasValue ? 1 : 0, Buf(c), c.Offset, divisor, Buf(top), top.Offset, Buf(normalizer), normalizer.Offset);
    }

    public void LossScale(float alpha, BufferView x, BufferView lossWeight, BufferView normalizer, BufferView y)
    {
        int n = Same(x, y);
        Launch1D(LossKernel("loss_scale"), n, n, alpha, Buf(x), x.Offset, Buf(lossWeight), lossWeight.Offset,
            Buf(normalizer), normalizer.Offset, Buf(y), y.Offset);
    }

    /// <summary>The kernel arguments of a weighting: (w, wOff, wKind) and (hasCw, cw, cwOff); a missing view passes <paramref name="dummy"/>, which the kernel does not read.</summary>
    private (KernelArg w, int wOff, int kind, int hasCw, KernelArg cw, int cwOff) Args(in LossWeighting lw, BufferView dummy)
    {
        var w = lw.Weights ?? dummy;
        var cw = lw.ClassWeights ?? dummy;
        return (Buf(w), w.Offset, lw.Weights.HasValue ? (int)lw.Kind : 0, lw.ClassWeights.HasValue ? 1 : 0, Buf(cw), cw.Offset);
    }

    private static void NeedFloats(BufferView v, long count, string what, string op)
    {
        if (v.Count < count) throw new ArgumentException($"{op}: {what} holds {v.Count} floats, {count} are needed");
    }

    private static void NeedLabels(int outer, int channels, int inner, BufferView prob, BufferView labels, string op)
    {
        NeedFloats(prob, (long)outer * channels * inner, "the prediction", op);
        NeedFloats(labels, (long)outer * inner, "the labels", op);
    }

    public void NllForward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel, float floor,
        in LossWeighting weights, BufferView losses, BufferView counts)
    {
        NeedLabels(outer, channels, inner, prob, labels, nameof(NllForward));
        NeedFloats(losses, (long)outer * inner, "losses", nameof(NllForward));
        NeedFloats(counts, (long)outer * inner, "counts", nameof(NllForward));
        var a = Args(weights, prob);
        Launch1D(LossKernel("nll_forward"), (long)outer * inner, outer, channels, inner, Buf(prob), prob.Offset, Buf(labels), labels.Offset,
            ignoreLabel.HasValue ? 1 : 0, ignoreLabel ?? 0, floor, a.w, a.wOff, a.kind, a.hasCw, a.cw, a.cwOff,
            Buf(losses), losses.Offset, Buf(counts), counts.Offset);
    }

    public void SoftmaxLossBackward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel,
        in LossWeighting weights, BufferView lossWeight, BufferView normalizer, BufferView diff)
    {
        NeedLabels(outer, channels, inner, prob, labels, nameof(SoftmaxLossBackward));
        NeedFloats(diff, (long)outer * channels * inner, "the gradient", nameof(SoftmaxLossBackward));
        var a = Args(weights, prob);
        Launch1D(LossKernel("softmax_loss_backward"), (long)outer * channels * inner, outer, channels, inner, Buf(prob), prob.Offset,
            Buf(labels), labels.Offset, ignoreLabel.HasValue ? 1 : 0, ignoreLabel ?? 0, a.w, a.wOff, a.kind, a.hasCw, a.cw, a.cwOff,
            Buf(lossWeight), lossWeight.Offset, Buf(normalizer), normalizer.Offset, Buf(diff), diff.Offset);
    }

    public void NllBackward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel, float floor,
        in LossWeighting weights, BufferView lossWeight, BufferView normalizer, BufferView diff)
    {
        NeedLabels(outer, channels, inner, prob, labels, nameof(NllBackward));
        NeedFloats(diff, (long)outer * channels * inner, "the gradient", nameof(NllBackward));
        var a = Args(weights, prob);
        Launch1D(LossKernel("nll_backward"), (long)outer * channels * inner, outer, channels, inner, Buf(prob), prob.Offset,
            Buf(labels), labels.Offset, ignoreLabel.HasValue ? 1 : 0, ignoreLabel ?? 0, floor, a.w, a.wOff, a.kind, a.hasCw, a.cw, a.cwOff,
            Buf(lossWeight), lossWeight.Offset, Buf(normalizer), normalizer.Offset, Buf(diff), diff.Offset);
    }

    public void AccuracyForward(int outer, int channels, int inner, int topK, BufferView scores, BufferView labels, int? ignoreLabel,
        BufferView hits, BufferView counts)
    {
        NeedLabels(outer, channels, inner, scores, labels, nameof(AccuracyForward));
        NeedFloats(hits, (long)outer * inner, "hits", nameof(AccuracyForward));
        NeedFloats(counts, (long)outer * inner, "counts", nameof(AccuracyForward));
        Launch1D(LossKernel("accuracy_forward"), (long)outer * inner, outer, channels, inner, topK, Buf(scores), scores.Offset,
            Buf(labels), labels.Offset, ignoreLabel.HasValue ? 1 : 0, ignoreLabel ?? 0, Buf(hits), hits.Offset, Buf(counts), counts.Offset);
    }

    public void AccuracyPerClass(int channels, BufferView labels, BufferView hits, BufferView counts, BufferView perClass)
    {
        NeedFloats(hits, labels.Count, "hits", nameof(AccuracyPerClass));
        NeedFloats(counts, labels.Count, "counts", nameof(AccuracyPerClass));
        NeedFloats(perClass, channels, "the per-class top", nameof(AccuracyPerClass));
        Launch1D(LossKernel("accuracy_per_class"), channels, labels.Count, channels, Buf(labels), labels.Offset,
            Buf(hits), hits.Offset, Buf(counts), counts.Offset, Buf(perClass), perClass.Offset);
    }

    public void InfogainForward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel,
        BufferView h, BufferView? classWeights, BufferView losses, BufferView counts, BufferView grad)
    {
        NeedLabels(outer, channels, inner, prob, labels, nameof(InfogainForward));
        NeedFloats(h, (long)channels * channels, "H", nameof(InfogainForward));
        NeedFloats(losses, (long)outer * inner, "losses", nameof(InfogainForward));
        NeedFloats(counts, (long)outer * inner, "counts", nameof(InfogainForward));
        NeedFloats(grad, (long)outer * channels * inner, "the gradient", nameof(InfogainForward));
        var cw = classWeights ?? h;
        Launch1D(LossKernel("infogain_forward"), (long)outer * inner, outer, channels, inner, Buf(prob), prob.Offset,
            Buf(labels), labels.Offset, ignoreLabel.HasValue ? 1 : 0, ignoreLabel ?? 0, Buf(h), h.Offset,
            classWeights.HasValue ? 1 : 0, Buf(cw), cw.Offset, Buf(losses), losses.Offset, Buf(counts), counts.Offset,
            Buf(grad), grad.Offset);
    }

    public void HingeForward(int n, int dim, BufferView x, BufferView labels, bool l2, BufferView losses, BufferView grad)
    {
        long count = (long)n * dim;
        NeedFloats(x, count, "the scores", nameof(HingeForward));
        NeedFloats(labels, n, "the labels", nameof(HingeForward));
        NeedFloats(losses, count, "losses", nameof(HingeForward));
        NeedFloats(grad, count, "the gradient", nameof(HingeForward));
        Launch1D(LossKernel("hinge_forward"), count, n, dim, Buf(x), x.Offset, Buf(labels), labels.Offset, l2 ? 1 : 0,
            Buf(losses), losses.Offset, Buf(grad), grad.Offset);
    }

    public void EuclideanForward(BufferView a, BufferView b, in LossWeighting weights, BufferView losses, BufferView grad)
    {
        int n = Same(a, b, grad);
        NeedFloats(losses, n, "losses", nameof(EuclideanForward));
        var w = Args(weights, a);
        Launch1D(LossKernel("euclidean_forward"), n, n, Buf(a), a.Offset, Buf(b), b.Offset, w.w, w.wOff, w.kind,
            Math.Max(weights.Channels, 1), Math.Max(weights.Inner, 1), Buf(losses), losses.Offset, Buf(grad), grad.Offset);
    }

    public void SigmoidCrossEntropyForward(BufferView x, BufferView t, int? ignoreLabel, in LossWeighting weights,
        BufferView losses, BufferView counts, BufferView grad)
    {
        int n = Same(x, t, grad);
        NeedFloats(losses, n, "losses", nameof(SigmoidCrossEntropyForward));
        NeedFloats(counts, n, "counts", nameof(SigmoidCrossEntropyForward));
        var w = Args(weights, x);
        Launch1D(LossKernel("sigmoid_ce_forward"), n, n, Buf(x), x.Offset, Buf(t), t.Offset, ignoreLabel.HasValue ? 1 : 0, ignoreLabel ?? 0,
            w.w, w.wOff, w.kind, Math.Max(weights.Channels, 1), Math.Max(weights.Inner, 1), w.hasCw, w.cw, w.cwOff,
            Buf(losses), losses.Offset, Buf(counts), counts.Offset, Buf(grad), grad.Offset);
    }

    public void SmoothL1Forward(BufferView a, BufferView b, BufferView? inside, BufferView? outside, float sigma,
        BufferView losses, BufferView grad)
    {
        int n = Same(a, b, grad);
        NeedFloats(losses, n, "losses", nameof(SmoothL1Forward));
        if (inside is { } iv) NeedFloats(iv, n, "the inside weights", nameof(SmoothL1Forward));
        if (outside is { } ov) NeedFloats(ov, n, "the outside weights", nameof(SmoothL1Forward));
        BufferView wi = inside ?? a, wo = outside ?? a;
        Launch1D(LossKernel("smooth_l1_forward"), n, n, Buf(a), a.Offset, Buf(b), b.Offset,
            inside.HasValue ? 1 : 0, Buf(wi), wi.Offset, outside.HasValue ? 1 : 0, Buf(wo), wo.Offset, sigma,
            Buf(losses), losses.Offset, Buf(grad), grad.Offset);
    }

    public void ContrastiveForward(int n, int channels, BufferView a, BufferView b, BufferView y, float margin, bool legacy,
        BufferView losses, BufferView grad)
    {
        long count = (long)n * channels;
        NeedFloats(a, count, "a", nameof(ContrastiveForward));
        NeedFloats(b, count, "b", nameof(ContrastiveForward));
        NeedFloats(y, n, "the similarity", nameof(ContrastiveForward));
        NeedFloats(losses, n, "losses", nameof(ContrastiveForward));
        NeedFloats(grad, count, "the gradient", nameof(ContrastiveForward));
        Launch1D(LossKernel("contrastive_forward"), n, n, channels, Buf(a), a.Offset, Buf(b), b.Offset, Buf(y), y.Offset,
            margin, legacy ? 1 : 0, Buf(losses), losses.Offset, Buf(grad), grad.Offset);
    }
}
