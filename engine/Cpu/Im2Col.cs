using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

/// <summary>
/// im2col / col2im with Caffe's exact semantics: zero padding, strides, dilation, and Caffe's
/// layout of the column buffer, so a convolution is one GEMM of the weights (out × C·kH·kW) with
/// the columns (C·kH·kW × outH·outW).
/// </summary>
/// <remarks>
/// Column row (c·kH + kh)·kW + kw, column oh·outW + ow holds the image value at channel c, row
/// oh·strideH − padH + kh·dilationH, column ow·strideW − padW + kw·dilationW, or 0 outside the image.
/// The N-D versions use the same layout generalised (kernel offsets and output positions in
/// row-major order, the last axis fastest).
/// </remarks>
public static class Im2Col
{
    /// <summary>Caffe's output extent: (input + 2·pad − (dilation·(kernel − 1) + 1)) / stride + 1,
    /// with C's truncating division.</summary>
    public static int OutputSize(int input, int kernel, int pad, int stride, int dilation)
    {
        int extent = dilation * (kernel - 1) + 1;
        return (input + 2 * pad - extent) / stride + 1;
    }

    /// <summary>Unfolds one image (channels × height × width) into <paramref name="columns"/>,
    /// (channels·kernelH·kernelW) × (outH·outW), every element written.</summary>
    public static void Forward(ReadOnlySpan<float> image, int channels, int height, int width,
        int kernelH, int kernelW, int padH, int padW, int strideH, int strideW, int dilationH, int dilationW,
        Span<float> columns)
    {
        var g = new Geometry(channels, height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH, dilationW);
        g.Check(image.Length, columns.Length, nameof(image), nameof(columns));
        int outSize = g.OutH * g.OutW;
        if (outSize == 0 || channels == 0) return;
        // Rows are short (a few to a few dozen floats) and there are many of them: copy and clear
        // with inlined vector loops rather than a library call per row.
        unsafe
        {
            fixed (float* img = image, cols = columns)
            {
                int row = 0;
                for (int c = 0; c < channels; c++)
                {
                    float* plane = img + (long)c * height * width;
                    for (int kh = 0; kh < kernelH; kh++)
                    {
                        for (int kw = 0; kw < kernelW; kw++, row++)
                        {
                            float* dst = cols + (long)row * outSize;
                            int ih = kh * dilationH - padH, iwBase = kw * dilationW - padW;
                            g.ValidColumns(iwBase, out int lo, out int hi);
                            for (int oh = 0; oh < g.OutH; oh++, ih += strideH)
                            {
                                float* d = dst + oh * g.OutW;
                                if ((uint)ih >= (uint)height)
                                {
                                    Zero(d, g.OutW);
                                    continue;
                                }
                                float* src = plane + ih * width + iwBase;
                                Zero(d, lo);
                                if (strideW == 1) Copy(src + lo, d + lo, hi - lo);
                                else
                                    for (int ow = lo; ow < hi; ow++) d[ow] = src[ow * strideW];
                                Zero(d + hi, g.OutW - hi);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>d[0..n) = s[0..n), in 8-float vectors with an overlapping last one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Copy(float* s, float* d, int n)
    {
        if (n >= 8)
        {
            int i = 0;
            for (; i <= n - 8; i += 8) Vector256.Store(Vector256.Load(s + i), d + i);
            if (i < n) Vector256.Store(Vector256.Load(s + n - 8), d + n - 8);
            return;
        }
        for (int i = 0; i < n; i++) d[i] = s[i];
    }

    /// <summary>d[0..n) = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Zero(float* d, int n)
    {
        if (n >= 8)
        {
            int i = 0;
            for (; i <= n - 8; i += 8) Vector256.Store(Vector256<float>.Zero, d + i);
            if (i < n) Vector256.Store(Vector256<float>.Zero, d + n - 8);
            return;
        }
        for (int i = 0; i < n; i++) d[i] = 0f;
    }

    /// <summary>d[0..n) += s[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Accumulate(float* s, float* d, int n)
    {
        int i = 0;
        for (; i <= n - 8; i += 8) Vector256.Store(Vector256.Load(d + i) + Vector256.Load(s + i), d + i);
        for (; i < n; i++) d[i] += s[i];
    }

    /// <summary>col2im, the adjoint of <see cref="Forward"/>: zeroes <paramref name="image"/>
    /// (channels × height × width), then adds every column element into the pixel it was read
    /// from (elements that came from padding are dropped), in Caffe's order.</summary>
    public static void Backward(ReadOnlySpan<float> columns, int channels, int height, int width,
        int kernelH, int kernelW, int padH, int padW, int strideH, int strideW, int dilationH, int dilationW,
        Span<float> image)
    {
        var g = new Geometry(channels, height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH, dilationW);
        g.Check(image.Length, columns.Length, nameof(image), nameof(columns));
        int outSize = g.OutH * g.OutW;
        image[..(channels * height * width)].Clear();
        if (outSize == 0 || channels == 0) return;
        unsafe
        {
            fixed (float* img = image, cols = columns)
            {
                int row = 0;
                for (int c = 0; c < channels; c++)
                {
                    float* plane = img + (long)c * height * width;
                    for (int kh = 0; kh < kernelH; kh++)
                    {
                        for (int kw = 0; kw < kernelW; kw++, row++)
                        {
                            float* src = cols + (long)row * outSize;
                            int ih = kh * dilationH - padH, iwBase = kw * dilationW - padW;
                            g.ValidColumns(iwBase, out int lo, out int hi);
                            for (int oh = 0; oh < g.OutH; oh++, ih += strideH)
                            {
                                if ((uint)ih >= (uint)height) continue;
                                float* s = src + oh * g.OutW;
                                float* d = plane + ih * width + iwBase;
                                if (strideW == 1) Accumulate(s + lo, d + lo, hi - lo);
                                else
                                    for (int ow = lo; ow < hi; ow++) d[ow * strideW] += s[ow];
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// N-D im2col. <paramref name="imageShape"/> is (C, d1, …, dn); <paramref name="kernel"/>,
    /// <paramref name="pad"/>, <paramref name="stride"/>, <paramref name="dilation"/> have n entries.
    /// <paramref name="columns"/> is (C·k1·…·kn) × (o1·…·on).
    /// </summary>
    public static void ForwardNd(ReadOnlySpan<float> image, ReadOnlySpan<int> imageShape, ReadOnlySpan<int> kernel,
        ReadOnlySpan<int> pad, ReadOnlySpan<int> stride, ReadOnlySpan<int> dilation, Span<float> columns)
        => Nd(image, columns, imageShape, kernel, pad, stride, dilation, toColumns: true);

    /// <summary>N-D col2im, the adjoint of <see cref="ForwardNd"/>: zeroes <paramref name="image"/>
    /// (C·d1·…·dn elements) then accumulates <paramref name="columns"/> into it.</summary>
    public static void BackwardNd(ReadOnlySpan<float> columns, ReadOnlySpan<int> imageShape, ReadOnlySpan<int> kernel,
        ReadOnlySpan<int> pad, ReadOnlySpan<int> stride, ReadOnlySpan<int> dilation, Span<float> image)
        => Nd(columns, image, imageShape, kernel, pad, stride, dilation, toColumns: false);

    /// <summary>The N-D output extents for <paramref name="imageShape"/> (C, d1, …, dn).</summary>
    public static int[] OutputShapeNd(ReadOnlySpan<int> imageShape, ReadOnlySpan<int> kernel, ReadOnlySpan<int> pad,
        ReadOnlySpan<int> stride, ReadOnlySpan<int> dilation)
    {
        var shape = new int[Math.Max(0, imageShape.Length - 1)];
        CheckNd(imageShape, kernel, pad, stride, dilation, shape);
        return shape;
    }

    private static void CheckNd(ReadOnlySpan<int> imageShape, ReadOnlySpan<int> kernel, ReadOnlySpan<int> pad,
        ReadOnlySpan<int> stride, ReadOnlySpan<int> dilation, Span<int> outShape)
    {
        int n = imageShape.Length - 1;
        if (n < 1) throw new ArgumentException("image shape needs a channel count and at least one spatial axis", nameof(imageShape));
        if (kernel.Length != n || pad.Length != n || stride.Length != n || dilation.Length != n)
            throw new ArgumentException($"kernel, pad, stride and dilation need {n} entries each (one per spatial axis); got " +
                                        $"{kernel.Length}, {pad.Length}, {stride.Length}, {dilation.Length}");
        if (imageShape[0] < 0) throw new ArgumentException($"channel count {imageShape[0]} must not be negative", nameof(imageShape));
        for (int d = 0; d < n; d++)
        {
            if (imageShape[d + 1] < 0) throw new ArgumentException($"image extent {imageShape[d + 1]} (axis {d}) must not be negative", nameof(imageShape));
            if (kernel[d] < 1) throw new ArgumentException($"kernel {kernel[d]} (axis {d}) must be at least 1", nameof(kernel));
            if (stride[d] < 1) throw new ArgumentException($"stride {stride[d]} (axis {d}) must be at least 1", nameof(stride));
            if (dilation[d] < 1) throw new ArgumentException($"dilation {dilation[d]} (axis {d}) must be at least 1", nameof(dilation));
            if (pad[d] < 0) throw new ArgumentException($"pad {pad[d]} (axis {d}) must not be negative", nameof(pad));
            outShape[d] = OutputSize(imageShape[d + 1], kernel[d], pad[d], stride[d], dilation[d]);
            if (outShape[d] < 1)
                throw new ArgumentException($"kernel {kernel[d]} (dilation {dilation[d]}, pad {pad[d]}) does not fit image extent {imageShape[d + 1]} (axis {d})");
        }
    }

    /// <summary>Walks every (column row, output position) pair in Caffe's order; copies image →
    /// columns (<paramref name="toColumns"/>) or accumulates columns → image.</summary>
    private static void Nd(ReadOnlySpan<float> src, Span<float> dst, ReadOnlySpan<int> imageShape, ReadOnlySpan<int> kernel,
        ReadOnlySpan<int> pad, ReadOnlySpan<int> stride, ReadOnlySpan<int> dilation, bool toColumns)
    {
        int n = Math.Max(1, imageShape.Length - 1);
        Span<int> outShape = n <= 16 ? stackalloc int[n] : new int[n];
        CheckNd(imageShape, kernel, pad, stride, dilation, outShape);

        long imageSize = imageShape[0], kernelSize = 1, colSpatial = 1;
        for (int d = 0; d < n; d++)
        {
            imageSize *= imageShape[d + 1];
            kernelSize *= kernel[d];
            colSpatial *= outShape[d];
        }
        long columnsSize = imageShape[0] * kernelSize * colSpatial;
        var (image, columns) = toColumns ? (src.Length, dst.Length) : (dst.Length, src.Length);
        if (image < imageSize) throw new ArgumentException($"image has {image} elements; its shape needs {imageSize}", nameof(image));
        if (columns < columnsSize) throw new ArgumentException($"columns has {columns} elements; {imageShape[0] * kernelSize}×{colSpatial} needs {columnsSize}", nameof(columns));
        if (!toColumns) dst[..(int)imageSize].Clear();

        Span<int> offset = n <= 16 ? stackalloc int[n] : new int[n];
        Span<int> pos = n <= 16 ? stackalloc int[n] : new int[n];
        int rows = (int)(imageShape[0] * kernelSize);
        int col = 0;
        for (int row = 0; row < rows; row++)
        {
            int rest = row;
            for (int d = n - 1; d >= 0; d--)
            {
                offset[d] = rest % kernel[d];
                rest /= kernel[d];
            }
            int channel = (int)(row / kernelSize);
            pos.Clear();
            for (long i = 0; i < colSpatial; i++, col++)
            {
                int index = channel;
                bool inside = true;
                for (int d = 0; d < n; d++)
                {
                    int x = pos[d] * stride[d] - pad[d] + offset[d] * dilation[d];
                    if ((uint)x >= (uint)imageShape[d + 1])
                    {
                        inside = false;
                        break;
                    }
                    index = index * imageShape[d + 1] + x;
                }
                if (toColumns) dst[col] = inside ? src[index] : 0f;
                else if (inside) dst[index] += src[col];
                for (int d = n - 1; d >= 0; d--)
                {
                    if (++pos[d] < outShape[d]) break;
                    pos[d] = 0;
                }
            }
        }
    }

    /// <summary>Part of one row of the column matrix: columns [<paramref name="start"/>,
    /// start + <paramref name="count"/>) of row <paramref name="row"/> (as <see cref="Forward"/> would
    /// write them) into dst[0..count). The GEMM packs its B operand from these rows, so a convolution
    /// never builds the whole column matrix (<see cref="Blas.SgemmIm2Col"/>).</summary>
    internal static unsafe void Row(float* image, in Geometry g, int row, int start, int count, float* dst)
    {
        if (g.Is1x1)
        {
            // The column matrix is the image itself.
            Copy(image + (nint)row * g.Height * g.Width + start, dst, count);
            return;
        }
        int kw = row % g.KernelW, rest = row / g.KernelW;
        int kh = rest % g.KernelH, c = rest / g.KernelH;
        float* plane = image + (nint)c * g.Height * g.Width;
        int ihBase = kh * g.DilationH - g.PadH, iwBase = kw * g.DilationW - g.PadW;
        int oh = start / g.OutW, ow0 = start - oh * g.OutW;
        if (g.PadH == 0 && g.PadW == 0)
        {
            // No padding (or an image already padded): every cell is inside, each output row a plain copy.
            float* origin = plane + (nint)ihBase * g.Width + iwBase;
            while (count > 0)
            {
                int n = Math.Min(g.OutW - ow0, count);
                float* src = origin + (nint)oh * g.StrideH * g.Width + ow0 * g.StrideW;
                if (g.StrideW == 1) Copy(src, dst, n);
                else
                    for (int i = 0; i < n; i++) dst[i] = src[i * g.StrideW];
                dst += n;
                count -= n;
                oh++;
                ow0 = 0;
            }
            return;
        }
        g.ValidColumns(iwBase, out int lo, out int hi);
        while (count > 0)
        {
            // Output row oh, positions [ow0, ow1): zeros left and right of the image, a copy between.
            int n = Math.Min(g.OutW - ow0, count), ow1 = ow0 + n;
            int ih = oh * g.StrideH + ihBase;
            if ((uint)ih >= (uint)g.Height) Zero(dst, n);
            else
            {
                int a = Math.Clamp(lo, ow0, ow1), b = Math.Clamp(hi, a, ow1);
                float* src = plane + (nint)ih * g.Width + iwBase;
                Zero(dst, a - ow0);
                if (g.StrideW == 1) Copy(src + a, dst + (a - ow0), b - a);
                else
                    for (int ow = a; ow < b; ow++) dst[ow - ow0] = src[ow * g.StrideW];
                Zero(dst + (b - ow0), ow1 - b);
            }
            dst += n;
            count -= n;
            oh++;
            ow0 = 0;
        }
    }

    /// <summary>
    /// Copies <paramref name="images"/> images (each at image + i·<paramref name="imageStride"/>) into
    /// <paramref name="dst"/> with their zero border: image i at dst + i·channels·(height + 2·padH)·(width + 2·padW).
    /// The column matrices of the padded images with no padding are those of the originals.
    /// </summary>
    internal static unsafe void Pad(float* image, int images, int imageStride, in Geometry g, float* dst)
    {
        int hp = g.Height + 2 * g.PadH, wp = g.Width + 2 * g.PadW;
        for (int i = 0; i < images; i++)
        {
            float* src = image + (nint)i * imageStride;
            for (int c = 0; c < g.Channels; c++)
            {
                Zero(dst, g.PadH * wp);
                dst += g.PadH * wp;
                for (int h = 0; h < g.Height; h++, src += g.Width, dst += wp)
                {
                    for (int x = 0; x < g.PadW; x++) dst[x] = 0f;
                    Copy(src, dst + g.PadW, g.Width);
                    for (int x = g.PadW + g.Width; x < wp; x++) dst[x] = 0f;
                }
                Zero(dst, g.PadH * wp);
                dst += g.PadH * wp;
            }
        }
    }

    /// <summary>Validated 2-D geometry.</summary>
    internal readonly struct Geometry
    {
        public readonly int Channels, Height, Width, KernelH, KernelW, PadH, PadW, StrideH, StrideW, DilationH, DilationW, OutH, OutW;

        /// <summary>Rows (channels·kernelH·kernelW) and columns (outH·outW) of the column matrix.</summary>
        public int Rows => Channels * KernelH * KernelW;
        public int Columns => OutH * OutW;

        /// <summary>A 1×1 kernel, stride 1, no padding: every column-matrix row is an image plane.</summary>
        public bool Is1x1 => KernelH == 1 && KernelW == 1 && StrideH == 1 && StrideW == 1 && PadH == 0 && PadW == 0;

        /// <summary>The geometry over the image with its zero border (<see cref="Pad"/>) and no padding: the same column matrix.</summary>
        public Geometry Padded() =>
            new(Channels, Height + 2 * PadH, Width + 2 * PadW, KernelH, KernelW, 0, 0, StrideH, StrideW, DilationH, DilationW);

        public Geometry(in Engine.Backends.ConvWindow w)
            : this(w.Channels, w.Height, w.Width, w.KernelH, w.KernelW, w.PadH, w.PadW, w.StrideH, w.StrideW, w.DilationH, w.DilationW)
        {
        }

        public Geometry(int channels, int height, int width, int kernelH, int kernelW, int padH, int padW,
            int strideH, int strideW, int dilationH, int dilationW)
        {
            if (channels < 0 || height < 0 || width < 0)
                throw new ArgumentException($"image shape {channels}×{height}×{width} must not be negative");
            if (kernelH < 1 || kernelW < 1) throw new ArgumentException($"kernel {kernelH}×{kernelW} must be at least 1×1");
            if (strideH < 1 || strideW < 1) throw new ArgumentException($"stride {strideH}×{strideW} must be at least 1×1");
            if (dilationH < 1 || dilationW < 1) throw new ArgumentException($"dilation {dilationH}×{dilationW} must be at least 1×1");
            if (padH < 0 || padW < 0) throw new ArgumentException($"pad {padH}×{padW} must not be negative");
            Channels = channels;
            Height = height;
            Width = width;
            KernelH = kernelH;
            KernelW = kernelW;
            PadH = padH;
            PadW = padW;
            StrideH = strideH;
            StrideW = strideW;
            DilationH = dilationH;
            DilationW = dilationW;
            OutH = OutputSize(height, kernelH, padH, strideH, dilationH);
            OutW = OutputSize(width, kernelW, padW, strideW, dilationW);
            if (OutH < 1 || OutW < 1)
                throw new ArgumentException($"a {kernelH}×{kernelW} kernel (dilation {dilationH}×{dilationW}, pad {padH}×{padW}) " +
                                            $"does not fit a {height}×{width} image");
        }

        public void Check(int imageLength, int columnsLength, string imageName, string columnsName)
        {
            long img = (long)Channels * Height * Width;
            long cols = (long)Channels * KernelH * KernelW * OutH * OutW;
            if (imageLength < img) throw new ArgumentException($"image has {imageLength} elements; {Channels}×{Height}×{Width} needs {img}", imageName);
            if (columnsLength < cols)
                throw new ArgumentException($"columns has {columnsLength} elements; {Channels * KernelH * KernelW}×{OutH * OutW} needs {cols}", columnsName);
        }

        /// <summary>The output columns [lo, hi) whose input column iwBase + ow·strideW is inside the image.</summary>
        public void ValidColumns(int iwBase, out int lo, out int hi)
        {
            lo = iwBase >= 0 ? 0 : (-iwBase + StrideW - 1) / StrideW;
            hi = iwBase > Width - 1 ? 0 : (Width - 1 - iwBase) / StrideW + 1;
            lo = Math.Min(lo, OutW);
            hi = Math.Clamp(hi, lo, OutW);
        }
    }
}
