namespace Engine.Backends;

/// <summary>
/// The pooling group's primitives on host arrays. They are written as the OpenCL kernels are
/// (one output element at a time, gathering what it needs), not as the layers' host loops, so the
/// device tests on this backend check the kernels' algorithm against the layers' own code.
/// </summary>
public sealed partial class CpuBackend
{
    public void PoolBackward(PoolKind kind, in PoolWindow w, int planes, BufferView topDiff, BufferView? mask, BufferView bottomDiff)
    {
        if (kind == PoolKind.Max && mask == null) throw new ArgumentException("pooling backward: max pooling needs the mask");
        int inPlane = w.Height * w.Width, outPlane = w.OutH * w.OutW;
        Same((long)planes * outPlane, topDiff.Count);
        Same((long)planes * inPlane, bottomDiff.Count);
        var dy = Span(topDiff);
        var dx = Span(bottomDiff);
        var m = kind == PoolKind.Max ? Span(mask!.Value) : default;
        if (kind == PoolKind.Max) Same(topDiff.Count, m.Length);
        for (int p = 0; p < planes; p++)
            for (int h = 0; h < w.Height; h++)
                for (int x = 0; x < w.Width; x++)
                {
                    // The top cells whose windows cover (h, x), in padded coordinates.
                    int hp = h + w.PadH, xp = x + w.PadW;
                    int phStart = hp < w.KernelH ? 0 : (hp - w.KernelH) / w.StrideH + 1;
                    int phEnd = Math.Min(hp / w.StrideH + 1, w.OutH);
                    int pwStart = xp < w.KernelW ? 0 : (xp - w.KernelW) / w.StrideW + 1;
                    int pwEnd = Math.Min(xp / w.StrideW + 1, w.OutW);
                    int top = p * outPlane, cell = h * w.Width + x;
                    float g = 0;
                    for (int ph = phStart; ph < phEnd; ph++)
                        for (int pw = pwStart; pw < pwEnd; pw++)
                        {
                            int o = top + ph * w.OutW + pw;
                            if (kind == PoolKind.Max)
                            {
                                if (m[o] == cell) g += dy[o];
                                continue;
                            }
                            int hs = ph * w.StrideH - w.PadH, ws = pw * w.StrideW - w.PadW;
                            int he = Math.Min(hs + w.KernelH, w.Height + w.PadH), we = Math.Min(ws + w.KernelW, w.Width + w.PadW);
                            g += dy[o] / ((he - hs) * (we - ws));
                        }
                    dx[p * inPlane + cell] = g;
                }
    }

    public void LrnForward(in LrnShape s, BufferView x, BufferView scale, BufferView y)
    {
        Same(s.Count, x.Count, scale.Count);
        Same(s.Count, y.Count);
        var xs = Span(x);
        var ss = Span(scale);
        var ys = Span(y);
        int plane = s.Height * s.Width, pre = (s.Size - 1) / 2;
        for (int i = 0; i < xs.Length; i++)
        {
            float sum = 0, v;
            if (s.WithinChannel)
            {
                // Rows of the window first, then their total (the host's separable order).
                int at = i - i % plane, h = i % plane / s.Width, w = i % s.Width;
                for (int r = Math.Max(0, h - pre); r <= Math.Min(s.Height - 1, h + pre); r++)
                {
                    float row = 0;
                    for (int c = Math.Max(0, w - pre); c <= Math.Min(s.Width - 1, w + pre); c++)
                    {
                        v = xs[at + r * s.Width + c];
                        row += v * v;
                    }
                    sum += row;
                }
                ss[i] = 1 + s.Alpha / (s.Size * s.Size) * sum;
            }
            else
            {
                int c = i / plane % s.Channels, at = i - c * plane;
                for (int j = Math.Max(0, c - pre); j <= Math.Min(s.Channels - 1, c + pre); j++)
                {
                    v = xs[at + j * plane];
                    sum += v * v;
                }
                ss[i] = s.K + s.Alpha / s.Size * sum;
            }
            ys[i] = xs[i] * MathF.Pow(ss[i], -s.Beta);
        }
    }

    public void LrnBackward(in LrnShape s, BufferView x, BufferView y, BufferView scale, BufferView dy, BufferView dx)
    {
        Same(s.Count, x.Count, y.Count);
        Same(s.Count, scale.Count, dy.Count);
        Same(s.Count, dx.Count);
        var xs = Span(x);
        var ys = Span(y);
        var ss = Span(scale);
        var g = Span(dy);
        var d = Span(dx);
        int plane = s.Height * s.Width, pre = (s.Size - 1) / 2;
        float coeff = 2 * s.Alpha * s.Beta / (s.WithinChannel ? s.Size * s.Size : s.Size);
        for (int i = 0; i < xs.Length; i++)
        {
            // Σ over the window of r = dy·y/scale.
            float sum = 0;
            if (s.WithinChannel)
            {
                int at = i - i % plane, h = i % plane / s.Width, w = i % s.Width;
                for (int r = Math.Max(0, h - pre); r <= Math.Min(s.Height - 1, h + pre); r++)
                {
                    float row = 0;
                    for (int c = Math.Max(0, w - pre); c <= Math.Min(s.Width - 1, w + pre); c++)
                    {
                        int q = at + r * s.Width + c;
                        row += g[q] * ys[q] / ss[q];
                    }
                    sum += row;
                }
            }
            else
            {
                int c = i / plane % s.Channels, at = i - c * plane;
                for (int j = Math.Max(0, c - pre); j <= Math.Min(s.Channels - 1, c + pre); j++)
                {
                    int q = at + j * plane;
                    sum += g[q] * ys[q] / ss[q];
                }
            }
            d[i] = g[i] * MathF.Pow(ss[i], -s.Beta) - coeff * xs[i] * sum;
        }
    }

    public void UpsampleForward(int planes, int height, int width, int factor, BufferView x, BufferView y)
    {
        int outW = width * factor, outPlane = height * factor * outW;
        Same((long)planes * height * width, x.Count);
        Same((long)planes * outPlane, y.Count);
        var xs = Span(x);
        var ys = Span(y);
        for (int i = 0; i < ys.Length; i++)
        {
            int p = i / outPlane, oh = i % outPlane / outW, ow = i % outW;
            ys[i] = xs[(p * height + oh / factor) * width + ow / factor];
        }
    }

    public void UpsampleBackward(int planes, int height, int width, int factor, BufferView dy, BufferView dx)
    {
        int outW = width * factor, outPlane = height * factor * outW;
        Same((long)planes * height * width, dx.Count);
        Same((long)planes * outPlane, dy.Count);
        var g = Span(dy);
        var d = Span(dx);
        for (int i = 0; i < d.Length; i++)
        {
            int p = i / (height * width), h = i / width % height, w = i % width;
            float sum = 0;
            for (int oh = h * factor; oh < (h + 1) * factor; oh++)
                for (int ow = w * factor; ow < (w + 1) * factor; ow++) sum += g[p * outPlane + oh * outW + ow];
            d[i] = sum;
        }
    }

    public void UnpoolForward(int planes, int inPlane, int outPlane, BufferView x, BufferView mask, BufferView y, BufferView winner)
    {
        Same((long)planes * inPlane, x.Count, mask.Count);
        Same((long)planes * outPlane, y.Count);
        var xs = Span(x);
        var m = Span(mask);
        var ys = Span(y);
        ys.Clear();
        for (int i = 0; i < xs.Length; i++)
            if (MaskPosition(m[i], outPlane) is int at) ys[i / inPlane * outPlane + at] = xs[i];
    }

    public void UnpoolBackward(int planes, int inPlane, int outPlane, BufferView dy, BufferView mask, BufferView dx)
    {
        Same((long)planes * inPlane, dx.Count, mask.Count);
        Same((long)planes * outPlane, dy.Count);
        var g = Span(dy);
        var m = Span(mask);
        var d = Span(dx);
        for (int i = 0; i < d.Length; i++)
            d[i] = MaskPosition(m[i], outPlane) is int at ? g[i / inPlane * outPlane + at] : 0;
    }

    /// <summary>A mask value as a position in a plane of <paramref name="outPlane"/> cells, or null.</summary>
    private static int? MaskPosition(float m, int outPlane) => m >= 0 && m < outPlane && (int)m == m ? (int)m : null;
}
