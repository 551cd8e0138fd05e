using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// The 2-D window of a convolution or pooling: kernel, stride, pad and dilation per axis, read
/// from the repeated fields (one value for both axes, or one per axis) or the _h/_w forms, with
/// Caffe's rules on which combinations are allowed.
/// </summary>
internal readonly record struct ConvGeometry(
    int KernelH, int KernelW, int StrideH, int StrideW, int PadH, int PadW, int DilationH, int DilationW)
{
    /// <summary>Output size along one axis of a convolution; ≤ 0 when the kernel does not fit.</summary>
    public static int ConvOutput(int input, int kernel, int stride, int pad, int dilation)
    {
        long extent = (long)dilation * (kernel - 1) + 1;
        long span = input + 2L * pad - extent;
        return span < 0 ? 0 : (int)(span / stride + 1);
    }

    public int OutputH(int height) => ConvOutput(height, KernelH, StrideH, PadH, DilationH);

    public int OutputW(int width) => ConvOutput(width, KernelW, StrideW, PadW, DilationW);

    /// <summary>A 1×1 kernel with stride 1 and no padding: the image is its own column buffer.</summary>
    public bool Is1x1 => KernelH == 1 && KernelW == 1 && StrideH == 1 && StrideW == 1 && PadH == 0 && PadW == 0;

    public override string ToString() =>
        $"kernel {KernelH}×{KernelW}, stride {StrideH}×{StrideW}, pad {PadH}×{PadW}, dilation {DilationH}×{DilationW}";

    /// <summary>Reads a ConvolutionParameter for two spatial axes; <paramref name="error"/> makes the exception to throw.</summary>
    public static ConvGeometry FromConvolution(ConvolutionParameter p, Func<string, Exception> error)
    {
        p = NdGeometry.ResolveSynonyms(p, error);
        int kh, kw;
        if (p.HasKernelH || p.HasKernelW)
        {
            if (p.KernelSize.Count > 0) throw error("give either kernel_size or kernel_h/kernel_w, not both");
            if (!(p.HasKernelH && p.HasKernelW)) throw error("kernel_h and kernel_w must be given together");
            kh = Checked(p.KernelH, "kernel_h", error);
            kw = Checked(p.KernelW, "kernel_w", error);
        }
        else
        {
            (kh, kw) = PerAxis(p.KernelSize, "kernel_size", null, error);
        }
        if (kh <= 0 || kw <= 0) throw error($"kernel size must be positive, got {kh}×{kw}");

        int sh, sw;
        if (p.HasStrideH || p.HasStrideW)
        {
            if (p.Stride.Count > 0) throw error("give either stride or stride_h/stride_w, not both");
            if (!(p.HasStrideH && p.HasStrideW)) throw error("stride_h and stride_w must be given together");
            sh = Checked(p.StrideH, "stride_h", error);
            sw = Checked(p.StrideW, "stride_w", error);
        }
        else
        {
            (sh, sw) = PerAxis(p.Stride, "stride", 1, error);
        }
        if (sh <= 0 || sw <= 0) throw error($"stride must be positive, got {sh}×{sw}");

        int ph, pw;
        if (p.HasPadH || p.HasPadW)
        {
            if (p.Pad.Count > 0) throw error("give either pad or pad_h/pad_w, not both");
            if (!(p.HasPadH && p.HasPadW)) throw error("pad_h and pad_w must be given together");
            ph = Checked(p.PadH, "pad_h", error);
            pw = Checked(p.PadW, "pad_w", error);
        }
        else
        {
            (ph, pw) = PerAxis(p.Pad, "pad", 0, error);
        }

        var (dh, dw) = PerAxis(p.Dilation, "dilation", 1, error);
        if (dh <= 0 || dw <= 0) throw error($"dilation must be positive, got {dh}×{dw}");
        return new ConvGeometry(kh, kw, sh, sw, ph, pw, dh, dw);
    }

    /// <summary>Reads a PoolingParameter's kernel (unless global), stride and pad.</summary>
    public static ConvGeometry FromPooling(PoolingParameter p, Func<string, Exception> error)
    {
        int kh = 0, kw = 0;
        if (p.GlobalPooling)
        {
            if (p.HasKernelSize || p.HasKernelH || p.HasKernelW)
                throw error("global_pooling takes the whole input as its window; do not also give kernel_size or kernel_h/kernel_w");
        }
        else if (p.HasKernelSize)
        {
            if (p.HasKernelH || p.HasKernelW) throw error("give either kernel_size or kernel_h/kernel_w, not both");
            kh = kw = Checked(p.KernelSize, "kernel_size", error);
        }
        else if (p.HasKernelH && p.HasKernelW)
        {
            kh = Checked(p.KernelH, "kernel_h", error);
            kw = Checked(p.KernelW, "kernel_w", error);
        }
        else if (p.HasKernelH || p.HasKernelW)
        {
            throw error("kernel_h and kernel_w must be given together");
        }
        else
        {
            throw error("needs a window: kernel_size, kernel_h and kernel_w, or global_pooling: true");
        }
        if (!p.GlobalPooling && (kh <= 0 || kw <= 0)) throw error($"kernel size must be positive, got {kh}×{kw}");

        int ph, pw;
        if (p.HasPadH || p.HasPadW)
        {
            if (p.HasPad) throw error("give either pad or pad_h/pad_w, not both");
            if (!(p.HasPadH && p.HasPadW)) throw error("pad_h and pad_w must be given together");
            ph = Checked(p.PadH, "pad_h", error);
            pw = Checked(p.PadW, "pad_w", error);
        }
        else
        {
            ph = pw = Checked(p.Pad, "pad", error);
        }

        int sh, sw;
        if (p.HasStrideH || p.HasStrideW)
        {
            if (p.HasStride) throw error("give either stride or stride_h/stride_w, not both");
            if (!(p.HasStrideH && p.HasStrideW)) throw error("stride_h and stride_w must be given together");
            sh = Checked(p.StrideH, "stride_h", error);
            sw = Checked(p.StrideW, "stride_w", error);
        }
        else
        {
            sh = sw = Checked(p.Stride, "stride", error);
        }
        if (sh <= 0 || sw <= 0) throw error($"stride must be positive, got {sh}×{sw}");
        return new ConvGeometry(kh, kw, sh, sw, ph, pw, 1, 1);
    }

    private static (int h, int w) PerAxis(IReadOnlyList<uint> values, string field, int? fallback, Func<string, Exception> error)
    {
        switch (values.Count)
        {
            case 0:
                if (fallback is int f) return (f, f);
                throw error($"{field} is required (one value for both axes, or two: height then width)");
            case 1:
                {
                    int v = Checked(values[0], field, error);
                    return (v, v);
                }
            case 2:
                return (Checked(values[0], field, error), Checked(values[1], field, error));
            default:
                throw error($"{field} is given {values.Count} times; give it once, or once per spatial axis (2)");
        }
    }

    private static int Checked(uint value, string field, Func<string, Exception> error) =>
        value > int.MaxValue / 4 ? throw error($"{field} {value} is too large") : (int)value;
}

/// <summary>
/// The window of an N-D convolution or pooling: kernel, stride, pad and dilation, one entry per
/// spatial axis. Read from the repeated fields (one value for all axes, or one per axis); the
/// _h/_w forms are 2-D only. Marvin's synonyms (window, padding, upscale) are accepted in place of
/// the Caffe fields, never together with them.
/// </summary>
internal sealed record NdGeometry(int[] Kernel, int[] Stride, int[] Pad, int[] Dilation)
{
    public int Axes => Kernel.Length;

    /// <summary>Kernel 1, stride 1, pad 0 on every axis: the image is its own column buffer.</summary>
    public bool Is1x1 => Kernel.All(k => k == 1) && Stride.All(s => s == 1) && Pad.All(p => p == 0);

    public override string ToString() =>
        $"kernel {Join(Kernel)}, stride {Join(Stride)}, pad {Join(Pad)}, dilation {Join(Dilation)}";

    public static string Join(IEnumerable<int> values) => string.Join("×", values);

    /// <summary>
    /// Moves Marvin's window/padding/upscale into kernel_size/pad/dilation (on a copy);
    /// <paramref name="p"/> itself when none is given. Both a Caffe field and its synonym: an error.
    /// </summary>
    public static ConvolutionParameter ResolveSynonyms(ConvolutionParameter p, Func<string, Exception> error)
    {
        if (p.Window.Count == 0 && p.Padding.Count == 0 && p.Upscale.Count == 0) return p;
        if (p.Window.Count > 0 && (p.KernelSize.Count > 0 || p.HasKernelH || p.HasKernelW))
            throw error("give either kernel_size (or kernel_h/kernel_w) or its Marvin synonym window, not both");
        if (p.Padding.Count > 0 && (p.Pad.Count > 0 || p.HasPadH || p.HasPadW))
            throw error("give either pad (or pad_h/pad_w) or its Marvin synonym padding, not both");
        if (p.Upscale.Count > 0 && p.Dilation.Count > 0)
            throw error("give either dilation or its Marvin synonym upscale, not both");
        var q = p.Clone();
        q.KernelSize.Add(q.Window);
        q.Pad.Add(q.Padding);
        q.Dilation.Add(q.Upscale);
        q.Window.Clear();
        q.Padding.Clear();
        q.Upscale.Clear();
        return q;
    }

    /// <summary>Reads a ConvolutionParameter for <paramref name="axes"/> spatial axes.</summary>
    public static NdGeometry FromConvolution(ConvolutionParameter p, int axes, Func<string, Exception> error)
    {
        p = ResolveSynonyms(p, error);
        if (axes == 2)
        {
            var g = ConvGeometry.FromConvolution(p, error);
            return new NdGeometry([g.KernelH, g.KernelW], [g.StrideH, g.StrideW], [g.PadH, g.PadW], [g.DilationH, g.DilationW]);
        }
        if (p.HasKernelH || p.HasKernelW || p.HasStrideH || p.HasStrideW || p.HasPadH || p.HasPadW)
            throw error($"kernel_h/kernel_w, stride_h/stride_w and pad_h/pad_w are for 2 spatial axes only; this input has {axes}: use kernel_size, stride and pad");
        var kernel = PerAxis(p.KernelSize, "kernel_size", null, axes, error);
        var stride = PerAxis(p.Stride, "stride", 1, axes, error);
        var pad = PerAxis(p.Pad, "pad", 0, axes, error);
        var dilation = PerAxis(p.Dilation, "dilation", 1, axes, error);
        if (kernel.Any(k => k <= 0)) throw error($"kernel size must be positive, got {Join(kernel)}");
        if (stride.Any(s => s <= 0)) throw error($"stride must be positive, got {Join(stride)}");
        if (dilation.Any(d => d <= 0)) throw error($"dilation must be positive, got {Join(dilation)}");
        return new NdGeometry(kernel, stride, pad, dilation);
    }

    /// <summary>True when a PoolingParameter uses the N-D fields (kernel_nd, stride_nd, pad_nd) or Marvin's window/padding.</summary>
    public static bool PoolingUsesNdFields(PoolingParameter p) =>
        p.KernelNd.Count > 0 || p.StrideNd.Count > 0 || p.PadNd.Count > 0 || p.Window.Count > 0 || p.Padding.Count > 0;

    /// <summary>
    /// Reads a PoolingParameter for <paramref name="axes"/> spatial axes: kernel_nd/stride_nd/pad_nd
    /// (or Marvin's window/padding, where the stride defaults to the window as in Marvin) when
    /// given, otherwise the scalar kernel_size/stride/pad for every axis (or the 2-D _h/_w forms
    /// when <paramref name="axes"/> is 2). Global pooling leaves the kernel 0 (the caller fills in
    /// the input's extents).
    /// </summary>
    public static NdGeometry FromPooling(PoolingParameter p, int axes, Func<string, Exception> error)
    {
        if (!PoolingUsesNdFields(p))
        {
            if (axes == 2)
            {
                var g = ConvGeometry.FromPooling(p, error);
                return new NdGeometry([g.KernelH, g.KernelW], [g.StrideH, g.StrideW], [g.PadH, g.PadW], [1, 1]);
            }
            if (p.HasKernelH || p.HasKernelW || p.HasStrideH || p.HasStrideW || p.HasPadH || p.HasPadW)
                throw error($"kernel_h/kernel_w, stride_h/stride_w and pad_h/pad_w are for 2 spatial axes only; this input has {axes}: use kernel_nd, stride_nd and pad_nd");
            int[] k;
            if (p.GlobalPooling)
            {
                if (p.HasKernelSize) throw error("global_pooling takes the whole input as its window; do not also give kernel_size");
                k = new int[axes];
            }
            else
            {
                if (!p.HasKernelSize) throw error("needs a window: kernel_size, kernel_nd, window, or global_pooling: true");
                k = Enumerable.Repeat(Checked(p.KernelSize, "kernel_size", error), axes).ToArray();
                if (k[0] <= 0) throw error($"kernel size must be positive, got {k[0]}");
            }
            int s = Checked(p.Stride, "stride", error), pd = Checked(p.Pad, "pad", error);
            if (s <= 0) throw error($"stride must be positive, got {s}");
            return new NdGeometry(k, Enumerable.Repeat(s, axes).ToArray(), Enumerable.Repeat(pd, axes).ToArray(), Enumerable.Repeat(1, axes).ToArray());
        }

        if (p.HasKernelSize || p.HasKernelH || p.HasKernelW || p.HasStride || p.HasStrideH || p.HasStrideW || p.HasPad || p.HasPadH || p.HasPadW)
            throw error("give the window either by kernel_nd/stride_nd/pad_nd (or Marvin's window/padding) or by kernel_size/stride/pad (or their _h/_w forms), not both");
        if (p.Window.Count > 0 && p.KernelNd.Count > 0)
            throw error("give either kernel_nd or its Marvin synonym window, not both");
        if (p.Padding.Count > 0 && p.PadNd.Count > 0)
            throw error("give either pad_nd or its Marvin synonym padding, not both");
        var kernelField = p.Window.Count > 0 ? p.Window : p.KernelNd;
        var kernelName = p.Window.Count > 0 ? "window" : "kernel_nd";
        int[] kernel;
        if (p.GlobalPooling)
        {
            if (kernelField.Count > 0) throw error($"global_pooling takes the whole input as its window; do not also give {kernelName}");
            kernel = new int[axes];
        }
        else
        {
            kernel = PerAxis(kernelField, kernelName, null, axes, error);
            if (kernel.Any(k => k <= 0)) throw error($"kernel size must be positive, got {Join(kernel)}");
        }
        // Marvin's stride defaults to the window; Caffe's to 1.
        int[] stride = p.StrideNd.Count == 0 && p.Window.Count > 0 ? (int[])kernel.Clone() : PerAxis(p.StrideNd, "stride_nd", 1, axes, error);
        if (stride.Any(s => s <= 0)) throw error($"stride must be positive, got {Join(stride)}");
        var pad = p.Padding.Count > 0 ? PerAxis(p.Padding, "padding", 0, axes, error) : PerAxis(p.PadNd, "pad_nd", 0, axes, error);
        return new NdGeometry(kernel, stride, pad, Enumerable.Repeat(1, axes).ToArray());
    }

    private static int[] PerAxis(IReadOnlyList<uint> values, string field, int? fallback, int axes, Func<string, Exception> error)
    {
        if (values.Count == 0)
        {
            if (fallback is int f) return Enumerable.Repeat(f, axes).ToArray();
            throw error($"{field} is required (one value for all {axes} spatial axes, or one per axis)");
        }
        if (values.Count == 1) return Enumerable.Repeat(Checked(values[0], field, error), axes).ToArray();
        if (values.Count != axes)
            throw error($"{field} is given {values.Count} times; give it once, or once per spatial axis ({axes})");
        return values.Select(v => Checked(v, field, error)).ToArray();
    }

    private static int Checked(uint value, string field, Func<string, Exception> error) =>
        value > int.MaxValue / 4 ? throw error($"{field} {value} is too large") : (int)value;
}
