namespace Engine.Backends;

/// <summary>The `Loss` layer's mode primitives (IBackend.LossMode.cs) on host arrays: the same loops as the mode kernels of loss.cl.</summary>
public sealed partial class CpuBackend
{
    public void HingePositionForward(int outer, int channels, int inner, BufferView x, BufferView labels, int? ignoreLabel, bool l2,
        in LossWeighting weights, BufferView losses, BufferView counts, BufferView grad)
    {
        var xs = Span(x);
        var l = Span(labels);
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
            float cw = ClassWeight(weights, label), loss = 0;
            for (int c = 0; c < channels; c++)
            {
                int e = at + c * inner;
                float delta = c == label ? 1f : -1f, t = MathF.Max(0f, 1f - delta * xs[e]), w = cw * WeightAt(weights, e);
                loss += w * (l2 ? t * t : t);
                g[e] = l2 ? -2f * delta * t * w : (t > 0 ? -delta * w : 0f);
            }
            ls[k] = loss;
        }
    }

    public void InfogainWeightedForward(int outer, int channels, int inner, BufferView prob, BufferView labels, int? ignoreLabel,
        BufferView h, in LossWeighting weights, BufferView losses, BufferView counts, BufferView grad)
    {
        var p = Span(prob);
        var l = Span(labels);
        var hs = Span(h);
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
            float cw = ClassWeight(weights, label), loss = 0, rowSum = 0;
            for (int c = 0; c < channels; c++)
            {
                int e = at + c * inner;
                float v = cw * WeightAt(weights, e) * hs[label * channels + c];
                rowSum += v;
                loss -= v * MathF.Log(MathF.Max(p[e], 1.17549435e-38f));
                g[e] = -v;
            }
            for (int c = 0; c < channels; c++) g[at + c * inner] += p[at + c * inner] * rowSum;
            ls[k] = loss;
        }
    }

    public void ContrastiveWeightedForward(int n, int channels, BufferView a, BufferView b, BufferView y, float margin, bool legacy,
        in LossWeighting weights, BufferView losses, BufferView grad)
    {
        ContrastiveForward(n, channels, a, b, y, margin, legacy, losses, grad);
        var ys = Span(y);
        var ls = Span(losses);
        var g = Span(grad);
        for (int i = 0; i < n; i++)
        {
            float w = WeightAt(weights, i * channels) * ClassWeight(weights, (int)ys[i] != 0 ? 1 : 0);
            ls[i] *= w;
            for (int c = 0; c < channels; c++) g[i * channels + c] *= w;
        }
    }
}
