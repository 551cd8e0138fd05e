using System.Numerics.Tensors;
using Engine.Layers;

namespace Engine.Backends;

/// <summary>The normalisation and recurrent primitives (<see cref="IBackend"/>) on host arrays.</summary>
public sealed partial class CpuBackend
{
    public void ChannelSum(ChannelReduction op, int outer, int channels, int inner, BufferView a, BufferView? b,
        float alpha, float beta, BufferView result)
    {
        long count = (long)outer * channels * inner;
        Same(count, a.Count);
        if (op == ChannelReduction.Dot) Same(count, Need(b, op).Count);
        if (op == ChannelReduction.SquaredDeviation) Same(channels, Need(b, op).Count);
        Same(channels, result.Count);
        var xs = Span(a);
        var ys = b is { } bv ? Span(bv) : default;
        var r = Span(result);
        for (int d = 0; d < channels; d++)
        {
            // Each row in float vectors, the rows in double (as the layers' host loops).
            double sum = 0;
            for (int o = 0; o < outer; o++)
            {
                int at = (o * channels + d) * inner;
                var row = xs.Slice(at, inner);
                switch (op)
                {
                    case ChannelReduction.Sum: sum += TensorPrimitives.Sum(row); break;
                    case ChannelReduction.Dot: sum += TensorPrimitives.Dot(row, ys.Slice(at, inner)); break;
                    default:
                        float centre = ys[d];
                        for (int i = 0; i < inner; i++)
                        {
                            double dev = row[i] - centre;
                            sum += dev * dev;
                        }
                        break;
                }
            }
            float value = (float)(alpha * sum);
            r[d] = beta == 0 ? value : value + beta * r[d];
        }
    }

    private static BufferView Need(BufferView? b, ChannelReduction op) =>
        b ?? throw new ArgumentException($"ChannelSum {op} needs a second input");

    public void ChannelAffine(int outer, int channels, int inner, BufferView x, BufferView? scale, BufferView? shift, BufferView y)
    {
        Same((long)outer * channels * inner, x.Count, y.Count);
        var xs = Span(x);
        var ys = Span(y);
        var s = scale is { } sv ? Span(sv) : default;
        var t = shift is { } tv ? Span(tv) : default;
        if (scale != null) Same(channels, s.Length);
        if (shift != null) Same(channels, t.Length);
        int at = 0;
        for (int o = 0; o < outer; o++)
            for (int d = 0; d < channels; d++, at += inner)
            {
                var src = xs.Slice(at, inner);
                var dst = ys.Slice(at, inner);
                if (scale != null && shift != null)
                    for (int i = 0; i < inner; i++) dst[i] = src[i] * s[d] + t[d];
                else if (scale != null) TensorPrimitives.Multiply(src, s[d], dst);
                else if (shift != null) TensorPrimitives.Add(src, t[d], dst);
                else src.CopyTo(dst);
            }
    }

    public void ChannelNormalize(int outer, int channels, int inner, BufferView x, BufferView mean, BufferView? invStd,
        BufferView y, BufferView? copy = null)
    {
        Same((long)outer * channels * inner, x.Count, y.Count);
        Same(channels, mean.Count);
        if (invStd is { } iv) Same(channels, iv.Count);
        if (copy is { } cv) Same(y.Count, cv.Count);
        var xs = Span(x);
        var ys = Span(y);
        var m = Span(mean);
        var inv = invStd is { } v ? Span(v) : default;
        int at = 0;
        for (int o = 0; o < outer; o++)
            for (int d = 0; d < channels; d++, at += inner)
            {
                var dst = ys.Slice(at, inner);
                TensorPrimitives.Subtract(xs.Slice(at, inner), m[d], dst);
                if (invStd != null) TensorPrimitives.Multiply(dst, inv[d], dst);
            }
        if (copy is { } c) ys.CopyTo(Span(c));
    }

    public void NormalizeBackward(int outer, int channels, int inner, BufferView dy, BufferView y, BufferView meanDy,
        BufferView meanDyY, BufferView invStd, BufferView dx)
    {
        Same((long)outer * channels * inner, dy.Count, y.Count);
        Same(dy.Count, dx.Count);
        Same(channels, meanDy.Count, meanDyY.Count);
        Same(channels, invStd.Count);
        var g = Span(dy);
        var ys = Span(y);
        var d0 = Span(dx);
        var a = Span(meanDy);
        var b = Span(meanDyY);
        var inv = Span(invStd);
        int at = 0;
        for (int o = 0; o < outer; o++)
            for (int d = 0; d < channels; d++, at += inner)
                for (int i = at; i < at + inner; i++) d0[i] = (g[i] - a[d] - b[d] * ys[i]) * inv[d];
    }

    public void BatchNormStatistics(int channels, long m, float eps, float fraction, BufferView mean, BufferView variance,
        BufferView invStd, BufferView meanSum, BufferView varianceSum, BufferView scaleFactor)
    {
        Same(channels, mean.Count, variance.Count);
        Same(channels, invStd.Count, meanSum.Count);
        Same(channels, varianceSum.Count);
        Same(1, scaleFactor.Count);
        var mu = Span(mean);
        var v = Span(variance);
        var inv = Span(invStd);
        var ms = Span(meanSum);
        var vs = Span(varianceSum);
        double correction = m > 1 ? (double)m / (m - 1) : 1;
        for (int d = 0; d < channels; d++)
        {
            inv[d] = (float)(1 / Math.Sqrt(v[d] + (double)eps));
            ms[d] = (float)(ms[d] * (double)fraction + mu[d]);
            vs[d] = (float)(vs[d] * (double)fraction + correction * v[d]);
        }
        var s = Span(scaleFactor);
        s[0] = s[0] * fraction + 1;
    }

    public void BatchNormGlobalStatistics(int channels, float eps, BufferView meanSum, BufferView varianceSum,
        BufferView scaleFactor, BufferView mean, BufferView invStd)
    {
        Same(channels, meanSum.Count, varianceSum.Count);
        Same(channels, mean.Count, invStd.Count);
        Same(1, scaleFactor.Count);
        float s = Span(scaleFactor)[0];
        float factor = s == 0 ? 0 : 1 / s;
        var ms = Span(meanSum);
        var vs = Span(varianceSum);
        var mu = Span(mean);
        var inv = Span(invStd);
        for (int d = 0; d < channels; d++)
        {
            mu[d] = factor * ms[d];
            inv[d] = (float)(1 / Math.Sqrt(factor * vs[d] + eps));
        }
    }

    public void MvnInverseDeviation(float eps, BufferView variance, BufferView invStd)
    {
        Same(variance.Count, invStd.Count);
        var v = Span(variance);
        var inv = Span(invStd);
        for (int i = 0; i < v.Length; i++) inv[i] = (float)(1 / (Math.Sqrt(v[i]) + eps));
    }

    public void ContinuationScale(int rows, int width, BufferView cont, BufferView x, BufferView y)
    {
        Same(rows, cont.Count);
        Same((long)rows * width, x.Count, y.Count);
        var c = Span(cont);
        var xs = Span(x);
        var ys = Span(y);
        for (int r = 0; r < rows; r++)
        {
            var dst = ys.Slice(r * width, width);
            if (c[r] == 0f) dst.Clear();
            else TensorPrimitives.Multiply(xs.Slice(r * width, width), c[r], dst);
        }
    }

    public void LstmForward(int n, int h, BufferView gates, BufferView cPrev, BufferView cont, BufferView c, BufferView hOut)
    {
        Same(4L * n * h, gates.Count);
        Same((long)n * h, cPrev.Count, c.Count);
        Same((long)n * h, hOut.Count);
        Same(n, cont.Count);
        LstmCell.Forward(n, h, Span(gates), Span(cPrev), Span(cont), Span(c), Span(hOut));
    }

    public void LstmBackward(int n, int h, BufferView gates, BufferView cPrev, BufferView c, BufferView cont, BufferView dh,
        BufferView dcIn, BufferView dcOut, BufferView dGates)
    {
        Same(4L * n * h, gates.Count, dGates.Count);
        Same((long)n * h, cPrev.Count, c.Count);
        Same((long)n * h, dh.Count, dcIn.Count);
        Same((long)n * h, dcOut.Count);
        Same(n, cont.Count);
        var dc = Span(dcOut);
        Span(dcIn).CopyTo(dc);
        LstmCell.Backward(n, h, Span(gates), Span(cPrev), Span(c), Span(cont), Span(dh), dc, Span(dGates));
    }
}
