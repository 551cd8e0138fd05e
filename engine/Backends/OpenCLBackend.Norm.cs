using Engine.OpenCL;

namespace Engine.Backends;

/// <summary>The normalisation and recurrent primitives (<see cref="IBackend"/>) over the kernels of norm.cl.</summary>
public sealed partial class OpenCLBackend
{
    /// <summary>Work-group size of channel_sum_group (NORM_GROUP in norm.cl).</summary>
    private const int NormGroup = 64;

    private OpenCLKernel NormKernel(string name) => Program("norm").Kernel(name);

    /// <summary>A norm.cl kernel over <paramref name="n"/> work-items whose first argument is n.</summary>
    private void NormMap(string kernel, int n, params ReadOnlySpan<KernelArg> rest)
        => Counted("norm", kernel, n, rest);

    public void ChannelSum(ChannelReduction op, int outer, int channels, int inner, BufferView a, BufferView? b,
        float alpha, float beta, BufferView result)
    {
        long count = (long)outer * channels * inner;
        SameCount(count, a.Count, nameof(ChannelSum));
        SameCount(channels, result.Count, nameof(ChannelSum));
        var bv = op switch
        {
            ChannelReduction.Sum => a,
            _ => b ?? throw new ArgumentException($"ChannelSum {op} needs a second input"),
        };
        if (op == ChannelReduction.Dot) SameCount(count, bv.Count, nameof(ChannelSum));
        if (op == ChannelReduction.SquaredDeviation) SameCount(channels, bv.Count, nameof(ChannelSum));
        if (channels == 0) return;
        long m = (long)outer * inner;
        // Many values per channel: a work-group adds each channel up; few: a work-item does.
        if (m >= NormGroup && Context.Device.MaxWorkGroupSize >= NormGroup)
            NormKernel("channel_sum_group").Launch([(long)channels * NormGroup], [NormGroup],
                (int)op, outer, channels, inner, Buf(a), a.Offset, Buf(bv), bv.Offset, alpha, beta, Buf(result), result.Offset);
        else
            Launch1D(NormKernel("channel_sum_item"), channels,
                (int)op, outer, channels, inner, Buf(a), a.Offset, Buf(bv), bv.Offset, alpha, beta, Buf(result), result.Offset);
    }

    public void ChannelAffine(int outer, int channels, int inner, BufferView x, BufferView? scale, BufferView? shift, BufferView y)
    {
        SameCount((long)outer * channels * inner, Same(x, y), nameof(ChannelAffine));
        if (scale is { } sc) SameCount(channels, sc.Count, nameof(ChannelAffine));
        if (shift is { } sh) SameCount(channels, sh.Count, nameof(ChannelAffine));
        var s = scale ?? x;
        var t = shift ?? x;
        NormMap("channel_affine", x.Count, channels, inner, Buf(x), x.Offset, scale.HasValue ? 1 : 0, Buf(s), s.Offset,
            shift.HasValue ? 1 : 0, Buf(t), t.Offset, Buf(y), y.Offset);
    }

    public void ChannelNormalize(int outer, int channels, int inner, BufferView x, BufferView mean, BufferView? invStd,
        BufferView y, BufferView? copy = null)
    {
        SameCount((long)outer * channels * inner, Same(x, y), nameof(ChannelNormalize));
        SameCount(channels, mean.Count, nameof(ChannelNormalize));
        if (invStd is { } iv) SameCount(channels, iv.Count, nameof(ChannelNormalize));
        if (copy is { } cv) SameCount(y.Count, cv.Count, nameof(ChannelNormalize));
        var inv = invStd ?? mean;
        var c = copy ?? y;
        NormMap("channel_normalize", x.Count, channels, inner, Buf(x), x.Offset, Buf(mean), mean.Offset,
            invStd.HasValue ? 1 : 0, Buf(inv), inv.Offset, Buf(y), y.Offset, copy.HasValue ? 1 : 0, Buf(c), c.Offset);
    }

    public void NormalizeBackward(int outer, int channels, int inner, BufferView dy, BufferView y, BufferView meanDy,
        BufferView meanDyY, BufferView invStd, BufferView dx)
    {
        SameCount((long)outer * channels * inner, Same(dy, y, dx), nameof(NormalizeBackward));
        SameCount(channels, Same(meanDy, meanDyY, invStd), nameof(NormalizeBackward));
        NormMap("normalize_backward", dy.Count, channels, inner, Buf(dy), dy.Offset, Buf(y), y.Offset,
            Buf(meanDy), meanDy.Offset, Buf(meanDyY), meanDyY.Offset, Buf(invStd), invStd.Offset, Buf(dx), dx.Offset);
    }

    public void BatchNormStatistics(int channels, long m, float eps, float fraction, BufferView mean, BufferView variance,
        BufferView invStd, BufferView meanSum, BufferView varianceSum, BufferView scaleFactor)
    {
        SameCount(channels, Same(mean, variance, invStd), nameof(BatchNormStatistics));
        SameCount(channels, Same(meanSum, varianceSum), nameof(BatchNormStatistics));
        SameCount(1, scaleFactor.Count, nameof(BatchNormStatistics));
        float correction = m > 1 ? (float)((double)m / (m - 1)) : 1f;
        NormMap("batchnorm_statistics", channels, correction, eps, fraction, Buf(mean), mean.Offset, Buf(variance), variance.Offset,
            Buf(invStd), invStd.Offset, Buf(meanSum), meanSum.Offset, Buf(varianceSum), varianceSum.Offset,
            Buf(scaleFactor), scaleFactor.Offset);
    }

    public void BatchNormGlobalStatistics(int channels, float eps, BufferView meanSum, BufferView varianceSum,
        BufferView scaleFactor, BufferView mean, BufferView invStd)
    {
        SameCount(channels, Same(meanSum, varianceSum), nameof(BatchNormGlobalStatistics));
        SameCount(channels, Same(mean, invStd), nameof(BatchNormGlobalStatistics));
        SameCount(1, scaleFactor.Count, nameof(BatchNormGlobalStatistics));
        NormMap("batchnorm_global", channels, eps, Buf(meanSum), meanSum.Offset, Buf(varianceSum), varianceSum.Offset,
            Buf(scaleFactor), scaleFactor.Offset, Buf(mean), mean.Offset, Buf(invStd), invStd.Offset);
    }

    public void MvnInverseDeviation(float eps, BufferView variance, BufferView invStd) =>
        NormMap("mvn_inverse_deviation", Same(variance, invStd), eps, Buf(variance), variance.Offset, Buf(invStd), invStd.Offset);

    public void ContinuationScale(int rows, int width, BufferView cont, BufferView x, BufferView y)
    {
        SameCount(rows, cont.Count, nameof(ContinuationScale));
        SameCount((long)rows * width, Same(x, y), nameof(ContinuationScale));
        NormMap("continuation_scale", x.Count, width, Buf(cont), cont.Offset, Buf(x), x.Offset, Buf(y), y.Offset);
    }

    public void LstmForward(int n, int h, BufferView gates, BufferView cPrev, BufferView cont, BufferView c, BufferView hOut)
    {
        SameCount(4L * n * h, gates.Count, nameof(LstmForward));
        SameCount((long)n * h, Same(cPrev, c, hOut), nameof(LstmForward));
        SameCount(n, cont.Count, nameof(LstmForward));
        Launch1D(NormKernel("lstm_forward"), (long)n * h, n, h, Buf(gates), gates.Offset, Buf(cPrev), cPrev.Offset,
            Buf(cont), cont.Offset, Buf(c), c.Offset, Buf(hOut), hOut.Offset);
    }

    public void LstmBackward(int n, int h, BufferView gates, BufferView cPrev, BufferView c, BufferView cont, BufferView dh,
        BufferView dcIn, BufferView dcOut, BufferView dGates)
    {
        SameCount(4L * n * h, Same(gates, dGates), nameof(LstmBackward));
        SameCount((long)n * h, Same(cPrev, c, dh), nameof(LstmBackward));
        SameCount((long)n * h, Same(dcIn, dcOut), nameof(LstmBackward));
        SameCount(n, cont.Count, nameof(LstmBackward));
        Launch1D(NormKernel("lstm_backward"), (long)n * h, n, h, Buf(gates), gates.Offset, Buf(cPrev), cPrev.Offset,
            Buf(c), c.Offset, Buf(cont), cont.Offset, Buf(dh), dh.Offset, Buf(dcIn), dcIn.Offset, Buf(dcOut), dcOut.Offset,
            Buf(dGates), dGates.Offset);
    }
}
