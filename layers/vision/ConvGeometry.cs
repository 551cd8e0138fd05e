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
