namespace Engine.Backends;

/// <summary>The loss primitives (<see cref="IBackend"/>, IBackend.Loss.cs) on host arrays: the same loops as the kernels of loss.cl.</summary>
public sealed partial class CpuBackend
{
    public void LossReduce(BufferView losses, BufferView? counts, float divisor, BufferView top, BufferView normalizer)
    {
        double sum = 0, n = 0;
        foreach (var v in Span(losses)) sum += v;
        if (counts is { } c)
        {
            Same(losses.Count, c.Count);
            foreach (var v in Span(c)) n += v;
        }
        else n = divisor;
        float d = (float)Math.Max(1.0, n);
        Span(normalizer)[0] = d;
        Span(top)[0] = (float)(sum / d);
    }

    public void LossScale(float alpha, BufferView x, BufferView lossWeight, BufferView normalizer, BufferView y)
    {
        Same(x.Count, y.Count);
        float s = Span(lossWeight)[0] / Span(normalizer)[0];
        System.Numerics.Tensors.TensorPrimitives.Multiply(Span(x), alpha * s, Span(y));
    }

    /// <summary>The label of position k: ≥ 0, −1 ignored, −2 outside [0, C).</summary>
    private static int LabelAt(ReadOnlySpan<float> labels, int k, int channels, int? ignore)
    {
        int label = (int)labels[k];
        if (label == ignore) return -1;
        return label >= 0 && label < channels ? label : -2;
    }

    private static float WeightAt(in LossWeighting lw, int e) =>
        lw.Weights is { } v ? LossWeighting.At(Span(v), lw.Kind, e, lw.Channels, lw.Inner) : 1f;

    private static float ClassWeight(in LossWeighting lw, int index) => lw.ClassWeights is { } c ? Span(c)[index] : 1f;

    public void NllForward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel, float floor,
        in LossWeighting weights, BufferView losses, BufferView counts)
    {
        var p = Span(prob);
        var l = Span(labels);
        var ls = Span(losses);
        var cs = Span(counts);
        for (int k = 0; k < outer * inner; k++)
        {
            int label = LabelAt(l, k, channels, ignoreLabel);
            if (label == -1) { ls[k] = 0; cs[k] = 0; continue; }
            cs[k] = 1;
            if (label < 0) { ls[k] = float.NaN; continue; }
            int at = (k / inner * channels + label) * inner + k % inner;
            float w = ClassWeight(weights, label) * WeightAt(weights, at);
            ls[k] = -w * MathF.Log(MathF.Max(p[at], floor));
        }
    }

    public void SoftmaxLossBackward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel,
        in LossWeighting weights, BufferView lossWeight, BufferView normalizer, BufferView diff)
    {
        var p = Span(prob);
        var l = Span(labels);
        var d = Span(diff);
        float s = Span(lossWeight)[0] / Span(normalizer)[0];
        for (int e = 0; e < outer * channels * inner; e++)
        {
            int j = e % inner, c = e / inner % channels, i = e / (channels * inner);
            int label = LabelAt(l, i * inner + j, channels, ignoreLabel);
            if (label < 0) { d[e] = 0; continue; }
            float g = p[e] * s;
            if (c == label) g -= s;
            d[e] = g * (ClassWeight(weights, label) * WeightAt(weights, (i * channels + label) * inner + j));
        }
    }

    public void NllBackward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel, float floor,
        in LossWeighting weights, BufferView lossWeight, BufferView normalizer, BufferView diff)
    {
        var p = Span(prob);
        var l = Span(labels);
        var d = Span(diff);
        float s = Span(lossWeight)[0] / Span(normalizer)[0];
        for (int e = 0; e < outer * channels * inner; e++)
        {
            int j = e % inner, c = e / inner % channels, i = e / (channels * inner);
            int label = LabelAt(l, i * inner + j, channels, ignoreLabel);
            d[e] = label != c ? 0 : -s * (ClassWeight(weights, label) * WeightAt(weights, e)) / MathF.Max(p[e], floor);
        }
    }

    public void AccuracyForward(int outer, int channels, int inner, int topK, BufferView scores, BufferView labels, int? ignoreLabel,
        BufferView hits, BufferView counts)
    {
        var x = Span(scores);
        var l = Span(labels);
        var h = Span(hits);
        var cs = Span(counts);
        for (int k = 0; k < outer * inner; k++)
        {
            int label = LabelAt(l, k, channels, ignoreLabel);
            if (label == -1) { h[k] = 0; cs[k] = 0; continue; }
            cs[k] = 1;
            if (label < 0) { h[k] = float.NaN; continue; }
            int at = k / inner * channels * inner + k % inner;
            float truth = x[at + label * inner];
            int better = 0;
            for (int c = 0; c < channels && better < topK; c++)
                if (x[at + c * inner] > truth) better++;
            h[k] = better < topK ? 1 : 0;
        }
    }

    public void AccuracyPerClass(int channels, BufferView labels, BufferView hits, BufferView counts, BufferView perClass)
    {
        var l = Span(labels);
        var h = Span(hits);
        var cs = Span(counts);
        var pc = Span(perClass);
        for (int c = 0; c < channels; c++)
        {
            float hc = 0, n = 0;
            for (int k = 0; k < l.Length; k++)
                if ((int)l[k] == c && cs[k] != 0) { hc += h[k]; n++; }
            pc[c] = n == 0 ? 0 : hc / n;
        }
    }

    public void InfogainForward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel,
        BufferView h, BufferView? classWeights, BufferView losses, BufferView counts, BufferView grad)
    {
        var p = Span(prob);
        var l = Span(labels);
        var hs = Span(h);
        var cw = classWeights is { } cv ? Span(cv) : default;
        var ls = Span(losses);
        var cs = Span(counts);
        var g = Span(grad);
        for (int k = 0; k < outer * inner; k++)
        {
            int label = LabelAt(l, k, channels, ignoreLabel), at = k / inner * channels * inner + k % inner;
            cs[k] = label == -1 ? 0 : 1;
            if (label < 0)
            {
                ls[k] = label == -1 ? 0 : float.NaN;
                for (int c = 0; c < channels; c++) g[at + c * inner] = 0;
                continue;
            }
            float weight = cw.IsEmpty ? 1f : cw[label], loss = 0, rowSum = 0;
            for (int c = 0; c < channels; c++)
            {
                float v = weight * hs[label * channels + c];
                rowSum += v;
                loss -= v * MathF.Log(MathF.Max(p[at + c * inner], 1.17549435e-38f));
            }
            for (int c = 0; c < channels; c++)
                g[at + c * inner] = p[at + c * inner] * rowSum - weight * hs[label * channels + c];
            ls[k] = loss;
        }
    }

    public void HingeForward(int n, int dim, BufferView x, BufferView labels, bool l2, BufferView losses, BufferView grad)
    {
        var xs = Span(x);
        var l = Span(labels);
        var ls = Span(losses);
        var g = Span(grad);
        for (int e = 0; e < n * dim; e++)
        {
            int label = LabelAt(l, e / dim, dim, null);
            if (label < 0) { ls[e] = float.NaN; g[e] = 0; continue; }
            float delta = e % dim == label ? 1f : -1f, t = MathF.Max(0f, 1f - delta * xs[e]);
            ls[e] = l2 ? t * t : t;
            g[e] = l2 ? -2f * delta * t : (t > 0 ? -delta : 0f);
        }
    }

    public void EuclideanForward(BufferView a, BufferView b, in LossWeighting weights, BufferView losses, BufferView grad)
    {
        Same(a.Count, b.Count, grad.Count);
        var x = Span(a);
        var y = Span(b);
        var ls = Span(losses);
        var g = Span(grad);
        for (int e = 0; e < x.Length; e++)
        {
            float d = x[e] - y[e], w = WeightAt(weights, e);
            ls[e] = 0.5f * w * d * d;
            g[e] = w * d;
        }
    }

    public void SigmoidCrossEntropyForward(BufferView x, BufferView t, int? ignoreLabel, in LossWeighting weights,
        BufferView losses, BufferView counts, BufferView grad)
    {
        Same(x.Count, t.Count, grad.Count);
        var xs = Span(x);
        var ts = Span(t);
        var ls = Span(losses);
        var cs = Span(counts);
        var g = Span(grad);
        for (int e = 0; e < xs.Length; e++)
        {
            if ((int)ts[e] == ignoreLabel) { ls[e] = 0; cs[e] = 0; g[e] = 0; continue; }
            float v = xs[e], pos = v >= 0 ? 1 : 0;
            float w = ClassWeight(weights, e / weights.Inner % weights.Channels) * WeightAt(weights, e);
            ls[e] = -w * (v * (ts[e] - pos) - MathF.Log(1 + MathF.Exp(v - 2 * v * pos)));
            float sigma = v >= 0 ? 1 / (1 + MathF.Exp(-v)) : MathF.Exp(v) / (1 + MathF.Exp(v));
            g[e] = w * (sigma - ts[e]);
            cs[e] = 1;
        }
    }

    public void SmoothL1Forward(BufferView a, BufferView b, BufferView? inside, BufferView? outside, float sigma,
        BufferView losses, BufferView grad)
    {
        Same(a.Count, b.Count, grad.Count);
        var x = Span(a);
        var y = Span(b);
        var wi = inside is { } iv ? Span(iv) : default;
        var wo = outside is { } ov ? Span(ov) : default;
        var ls = Span(losses);
        var g = Span(grad);
        float sigma2 = sigma * sigma, knee = 1f / sigma2;
        for (int e = 0; e < x.Length; e++)
        {
            float win = wi.IsEmpty ? 1f : wi[e], wout = wo.IsEmpty ? 1f : wo[e];
            float d = win * (x[e] - y[e]), ad = MathF.Abs(d), f, df;
            if (ad < knee) { f = 0.5f * sigma2 * d * d; df = sigma2 * d; }
            else { f = ad - 0.5f / sigma2; df = MathF.Sign(d); }
            ls[e] = wout * f;
            g[e] = wout * win * df;
        }
    }

    public void ContrastiveForward(int n, int channels, BufferView a, BufferView b, BufferView y, float margin, bool legacy,
        BufferView losses, BufferView grad)
    {
        var x = Span(a);
        var z = Span(b);
        var ys = Span(y);
        var ls = Span(losses);
        var g = Span(grad);
        for (int i = 0; i < n; i++)
        {
            int off = i * channels;
            float d2 = 0;
            for (int c = 0; c < channels; c++)
            {
                float d = x[off + c] - z[off + c];
                d2 += d * d;
            }
            float loss, factor;
            if ((int)ys[i] != 0) { loss = d2; factor = 1; }
            else if (legacy)
            {
                float m = margin - d2;
                loss = MathF.Max(m, 0);
                factor = m > 0 ? -1 : 0;
            }
            else
            {
                float dist = MathF.Sqrt(d2), m = margin - dist;
                loss = m > 0 ? m * m : 0;
                factor = m > 0 ? -m / (dist + 1e-4f) : 0;
            }
            ls[i] = 0.5f * loss;
            for (int c = 0; c < channels; c++) g[off + c] = factor * (x[off + c] - z[off + c]);
        }
    }
}
