using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Engine.Backends;

namespace Engine.Cpu;

/// <summary>
/// The B operand of a product, and the products whose B is an image's im2col matrix that is never
/// built: the packing reads the image (<see cref="Im2Col.Row"/>) straight into the packed slivers.
/// </summary>
public static unsafe partial class Blas
{
    /// <summary>
    /// C(m × outH·outW) = alpha·A·im2col(image) + beta·C, A stored m × (channels·kernelH·kernelW)
    /// with leading dimension <paramref name="lda"/>: a convolution's forward product without its
    /// column buffer. The same numbers, bit for bit, as <see cref="Im2Col.Forward"/> then
    /// <see cref="Sgemm(bool, bool, int, int, int, float, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, float, Span{float}, int)"/>
    /// where that product keeps the main blocking (always, except with AVX2 for a C of at least
    /// <see cref="LargeCThreshold"/> elements, where Sgemm sums k in longer blocks: the last bits differ).
    /// With <paramref name="images"/> &gt; 1, B is the column matrices of that many images side by
    /// side (image i at image[i·imageStride…]), and C has images·outH·outW columns.
    /// </summary>
    public static void SgemmIm2Col(int m, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> image, in ConvWindow window,
        float beta, Span<float> c, int ldc, int images = 1, int imageStride = 0)
        => Im2ColProduct(transposed: false, m, alpha, a, lda, image, window, beta, c, ldc, images, imageStride);

    /// <summary>
    /// C(m × channels·kernelH·kernelW) = alpha·A·im2col(image)ᵀ + beta·C, A stored m × (outH·outW)
    /// with leading dimension <paramref name="lda"/>: a convolution's weight-gradient product
    /// without its column buffer (bit for bit the same as with it, as for <see cref="SgemmIm2Col"/>). With <paramref name="images"/>
    /// &gt; 1 the column matrices of that many images are side by side along k (A has
    /// images·outH·outW columns): the sum over the images in one product.
    /// </summary>
    public static void SgemmIm2ColT(int m, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> image, in ConvWindow window,
        float beta, Span<float> c, int ldc, int images = 1, int imageStride = 0)
        => Im2ColProduct(transposed: true, m, alpha, a, lda, image, window, beta, c, ldc, images, imageStride);

    /// <summary>Checks and runs <see cref="SgemmIm2Col"/> (B = the column matrices, k = their rows) or
    /// <see cref="SgemmIm2ColT"/> (B = their transpose, k = the images' output positions).</summary>
    private static void Im2ColProduct(bool transposed, int m, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> image,
        in ConvWindow window, float beta, Span<float> c, int ldc, int images, int imageStride)
    {
        var g = new Im2Col.Geometry(window);
        CheckImages(g, image.Length, images, imageStride);
        int positions = checked(g.Columns * images);
        int n = transposed ? g.Rows : positions, k = transposed ? positions : g.Rows;
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "must be ≥ 0");
        CheckMatrix(c, m, n, ldc, nameof(c), nameof(ldc));
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0f)
        {
            ScaleMatrix(c, m, n, ldc, beta);
            return;
        }
        CheckMatrix(a, m, k, lda, nameof(a), nameof(lda));
        fixed (float* pa = a, pi = image, pc = c)
            Run(false, m, n, k, alpha, pa, lda, Im2ColB.Make(pi, g, images, imageStride, transposed), beta, pc, ldc);
    }

    private static void CheckImages(in Im2Col.Geometry g, int length, int images, int imageStride)
    {
        if (images < 1) throw new ArgumentOutOfRangeException(nameof(images), images, "must be ≥ 1");
        long imageSize = (long)g.Channels * g.Height * g.Width;
        if (images > 1 && imageStride < imageSize)
            throw new ArgumentOutOfRangeException(nameof(imageStride), imageStride, $"must be ≥ one image ({imageSize} floats)");
        long need = (long)(images - 1) * imageStride + imageSize;
        if (length < need) throw new ArgumentException($"image has {length} elements; {images} image(s) of {g.Channels}×{g.Height}×{g.Width} need {need}", "image");
    }

    /// <summary>How GemmSerial gets its B operand (k × n) into packed slivers. Implemented by structs,
    /// so each source gets its own compiled copy of the blocked loops.</summary>
    private interface IPackB<TSelf> where TSelf : struct, IPackB<TSelf>
    {
        /// <summary>Packed one sliver at a time (<see cref="PackSliver"/>, a transposing pack that
        /// may run just before the sliver's first use) rather than a block at a time (<see cref="PackBlock"/>).</summary>
        bool BySliver { get; }

        /// <summary>Rows [pc, pc + kc) × columns [jc, jc + nc) into slivers of the given widths, as <see cref="PackRowBlock"/> lays them out.</summary>
        void PackBlock(int pc, int kc, int jc, int nc, int[] widths, float* dst);

        /// <summary>Rows [pc, pc + kc) × columns [j, j + valid) into one sliver of width w (zero past valid), as <see cref="PackTransposed"/> lays it out.</summary>
        void PackSliver(int pc, int kc, int j, int w, int valid, float* dst);

        /// <summary>The same operand from column <paramref name="start"/> on (a thread's share of C's columns).</summary>
        TSelf FromColumn(int start);

        /// <summary>Roughly what packing one element costs, against copying it from a matrix (1):
        /// how the threads' split weighs packing all of B on each thread against all of A.</summary>
        int PackCost { get; }

        /// <summary>Whether a product with a large C may use its family's large-C blocking
        /// (<see cref="KernelSet.LargeC"/>): a matrix in memory may; image columns keep the main
        /// blocking (ResNet-50 ran 2–4% slower with its im2col products in the large-C one, in 5 of 6
        /// alternating runs).</summary>
        static abstract bool LargeCBlocking { get; }
    }

    /// <summary><see cref="IPackB{TSelf}.PackCost"/> of image columns that must be built row by row.</summary>
    private const int PackCostIm2Col = 3;

    /// <summary>B as a row-major matrix in memory (k × n, or n × k when transposed).</summary>
    private readonly struct MatrixB(float* b, nint ldb, bool transposed) : IPackB<MatrixB>
    {
        public bool BySliver => transposed;

        public int PackCost => 1;

        public static bool LargeCBlocking => true;

        public void PackBlock(int pc, int kc, int jc, int nc, int[] widths, float* dst)
            => PackRowBlock(b + pc * ldb + jc, ldb, kc, nc, widths, false, dst);

        public void PackSliver(int pc, int kc, int j, int w, int valid, float* dst)
            => PackTransposed(b + j * ldb + pc, ldb, kc, w, valid, dst);

        public MatrixB FromColumn(int start) => new(transposed ? b + start * ldb : b + start, ldb, transposed);
    }

    /// <summary>B = im2col(image) (k = column rows, n = output positions) or its transpose, made
    /// row by row into the thread's scratch as the packing needs them. Several images' column
    /// matrices lie side by side along the output positions (image i at image + i·imageStride).</summary>
    private readonly struct Im2ColB(float* image, Im2Col.Geometry g, int imageStride, bool transposed, int firstColumn = 0) : IPackB<Im2ColB>
    {
        /// <summary>The operand for these images; padded ones are first copied with their zero border
        /// into the calling thread's scratch, so that the packing reads without bounds checks.</summary>
        public static Im2ColB Make(float* image, in Im2Col.Geometry g, int images, int imageStride, bool transposed)
        {
            if (g.PadH == 0 && g.PadW == 0) return new(image, g, imageStride, transposed);
            var padded = g.Padded();
            int paddedStride = checked(padded.Channels * padded.Height * padded.Width);
            float* scratch = PackBuffers.Get().Padded((long)images * paddedStride);
            Im2Col.Pad(image, images, imageStride, g, scratch);
            return new(scratch, padded, paddedStride, transposed);
        }

        /// <summary>Rows of the column matrix are the image read at fixed offsets, each group of eight
        /// columns one output row's contiguous run (unpadded, stride 1, rows a multiple of 8 wide).</summary>
        public bool BySliver => transposed;

        /// <summary>Straight vector copies from the image where the layout allows (<see cref="Direct"/>,
        /// <see cref="DirectRows"/>); otherwise each column-matrix row is made (window offsets,
        /// padding, image boundaries) and then packed: measured about 3× a plain copy.</summary>
        public int PackCost => (transposed ? DirectRows : Direct) ? 1 : PackCostIm2Col;

        public static bool LargeCBlocking => false;

        private bool Direct => !transposed && g.PadH == 0 && g.PadW == 0 && g.StrideW == 1 && g.OutW % 8 == 0;

        public void PackBlock(int pc, int kc, int jc, int nc, int[] widths, float* dst)
        {
            if (Direct && (firstColumn + jc) % 8 == 0 && nc % 8 == 0 && widths[^1] % 8 == 0)
            {
                PackBlockDirect(pc, kc, firstColumn + jc, nc, widths, dst);
                return;
            }
            float* row = PackBuffers.Get().Rows;
            for (int p = 0; p < kc; p++)
            {
                Row(pc + p, firstColumn + jc, nc, row);
                PackRows(row, 0, 1, p, kc, nc, widths, false, dst);
            }
        }

        public void PackSliver(int pc, int kc, int j, int w, int valid, float* dst)
        {
            if (DirectRows && valid == w && w % 8 == 0 && Avx.IsSupported)
            {
                PackSliverDirect(pc, kc, firstColumn + j, w, dst);
                return;
            }
            // B's columns are the column matrix's rows: make `valid` of them, kc long, then transpose.
            float* rows = PackBuffers.Get().Rows;
            for (int r = 0; r < valid; r++) Row(firstColumn + j + r, pc, kc, rows + (nint)r * kc);
            PackTransposed(rows, kc, kc, w, valid, dst);
        }

        /// <summary>Each aligned group of eight output positions is one contiguous run of the image
        /// in every column-matrix row (unpadded, stride 1, output rows a multiple of 8 wide).</summary>
        private bool DirectRows => g.PadH == 0 && g.PadW == 0 && g.StrideW == 1 && g.OutW % 8 == 0;

        /// <summary>Offset in the images of output position <paramref name="position"/> (image, row, column).</summary>
        private nint PositionOffset(int position)
        {
            int i = position / g.Columns, rest = position - i * g.Columns, oh = rest / g.OutW;
            return (nint)i * imageStride + (nint)oh * g.StrideH * g.Width + (rest - oh * g.OutW);
        }

        /// <summary>Offset in an image of column-matrix row <paramref name="row"/>'s window cell (channel, kh, kw).</summary>
        private nint RowOffset(int row)
        {
            int kw = row % g.KernelW, rest = row / g.KernelW, kh = rest % g.KernelH, c = rest / g.KernelH;
            return ((nint)c * g.Height + kh * g.DilationH) * g.Width + kw * g.DilationW;
        }

        /// <summary>
        /// <see cref="PackSliver"/> (transposed: sliver rows are output positions, its w columns
        /// column-matrix rows <paramref name="first"/>…) straight from the image: eight positions of
        /// eight rows at a time are eight vector loads and an 8 × 8 transpose; unaligned ends go one value at a time.
        /// </summary>
        private void PackSliverDirect(int pc, int kc, int first, int w, float* dst)
        {
            nint* rowOffset = stackalloc nint[KernelSet.MaxCols];
            for (int q = 0; q < w; q++) rowOffset[q] = RowOffset(first + q);
            int p = 0;
            for (; p < kc && (pc + p) % 8 != 0; p++) PackPosition(pc + p, rowOffset, w, dst + (nint)p * w);
            for (; p + 8 <= kc; p += 8)
            {
                float* src = image + PositionOffset(pc + p);
                for (int q = 0; q < w; q += 8)
                {
                    nint* o = rowOffset + q;
                    Transpose8x8(Avx.LoadVector256(src + o[0]), Avx.LoadVector256(src + o[1]), Avx.LoadVector256(src + o[2]), Avx.LoadVector256(src + o[3]),
                        Avx.LoadVector256(src + o[4]), Avx.LoadVector256(src + o[5]), Avx.LoadVector256(src + o[6]), Avx.LoadVector256(src + o[7]),
                        dst + (nint)p * w + q, w);
                }
            }
            for (; p < kc; p++) PackPosition(pc + p, rowOffset, w, dst + (nint)p * w);
        }

        private void PackPosition(int position, nint* rowOffset, int w, float* d)
        {
            float* src = image + PositionOffset(position);
            for (int q = 0; q < w; q++) d[q] = src[rowOffset[q]];
        }

        /// <summary>
        /// <see cref="PackBlock"/> straight from the image: element (p, j) of the block is
        /// image[rowOffset(pc + p) + columnOffset(first + j)], and each group of eight columns is
        /// contiguous in the image, so every sliver row is one or more vector copies.
        /// </summary>
        private void PackBlockDirect(int pc, int kc, int first, int nc, int[] widths, float* dst)
        {
            nint* rowOffset = stackalloc nint[kc];
            for (int p = 0; p < kc; p++)
            {
                int row = pc + p, kw = row % g.KernelW, rest = row / g.KernelW, kh = rest % g.KernelH, c = rest / g.KernelH;
                rowOffset[p] = ((nint)c * g.Height + kh * g.DilationH) * g.Width + kw * g.DilationW;
            }
            nint* vector = stackalloc nint[KernelSet.MaxCols / 8];
            int columns = g.Columns;
            for (int j = 0; j < nc;)
            {
                int w = widths[KernelSet.Pick(widths, nc - j)], vectors = w / 8, valid = Math.Min(w, nc - j);
                for (int v = 0; v < vectors; v++)
                {
                    int col = first + j + 8 * v, i = col / columns, pos = col - i * columns, oh = pos / g.OutW, ow = pos - oh * g.OutW;
                    vector[v] = 8 * v < valid ? (nint)i * imageStride + (nint)oh * g.StrideH * g.Width + ow : -1;
                }
                float* d = dst + (nint)j * kc;
                if (vectors == 2 && vector[1] >= 0)
                {
                    // The common sliver, two whole vectors: its own loop, no per-vector test.
                    nint o0 = vector[0], o1 = vector[1];
                    for (int p = 0; p < kc; p++, d += 16)
                    {
                        float* src = image + rowOffset[p];
                        Vector256.Store(Vector256.Load(src + o0), d);
                        Vector256.Store(Vector256.Load(src + o1), d + 8);
                    }
                }
                else
                {
                    for (int p = 0; p < kc; p++, d += w)
                    {
                        float* src = image + rowOffset[p];
                        for (int v = 0; v < vectors; v++)
                            Vector256.Store(vector[v] >= 0 ? Vector256.Load(src + vector[v]) : Vector256<float>.Zero, d + 8 * v);
                    }
                }
                j += w;
            }
        }

        /// <summary>Row <paramref name="row"/> of the side-by-side column matrices, columns [start, start + count).</summary>
        private void Row(int row, int start, int count, float* dst)
        {
            int columns = g.Columns;
            int i = start / columns, position = start - i * columns;
            while (count > 0)
            {
                int n = Math.Min(count, columns - position);
                Im2Col.Row(image + (nint)i * imageStride, g, row, position, n, dst);
                dst += n;
                count -= n;
                i++;
                position = 0;
            }
        }

        public Im2ColB FromColumn(int start) => new(image, g, imageStride, transposed, firstColumn + start);
    }
}
