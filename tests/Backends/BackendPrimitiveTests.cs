using System.Numerics.Tensors;
using Engine.Backends;
using Engine.Core;
using Engine.Cpu;
using Engine.Proto;
using NUnit.Framework;

namespace Engine.Tests.Backends;

/// <summary>
/// The primitive set (<see cref="IBackend"/>) against the CPU implementations on odd sizes, to 1e-4
/// relative, for any backend (a subclass names it): GEMM against <c>Blas.Sgemm</c>, im2col/col2im
/// against <see cref="Im2Col"/>, the maps against TensorPrimitives and the CPU layers (ReLU,
/// Sigmoid, TanH, Softmax, Pooling), which are themselves tested against PyTorch.
/// </summary>
public abstract class BackendPrimitiveTests
{
    /// <summary>The backend under test (an OpenCL subclass ignores the test when there is no device).</summary>
    protected abstract IBackend Backend { get; }

    protected IBackendBuffer Upload(float[] values)
    {
        var b = Backend.Allocate(values.Length);
        Backend.Upload(values, b.All);
        return b;
    }

    protected float[] Download(IBackendBuffer buffer) => Download(buffer.All);

    protected float[] Download(BufferView view)
    {
        var values = new float[view.Count];
        Backend.Download(view, values);
        return values;
    }

    /// <summary>Uniform values in [lo, hi) from a fixed seed.</summary>
    protected static float[] Random(int count, ulong seed, float lo = -1, float hi = 1)
    {
        var rng = new Rng(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = lo + (hi - lo) * rng.NextFloat();
        return v;
    }

    /// <summary>|actual − expected| ≤ rel · max(1, |expected|) everywhere.</summary>
    protected static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, string what, double rel = 1e-4)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: count");
        for (int i = 0; i < actual.Length; i++)
        {
            double tol = rel * Math.Max(1.0, Math.Abs(expected[i]));
            if (!(Math.Abs(actual[i] - expected[i]) <= tol))
                Assert.Fail($"{what}[{i}]: got {actual[i]}, expected {expected[i]} (CPU)");
        }
    }

    // ---- GEMM ------------------------------------------------------------------------------

    [TestCase(false, false), TestCase(false, true), TestCase(true, false), TestCase(true, true)]
    public void GemmMatchesBlasForEveryTranspose(bool transA, bool transB)
    {
        foreach (var (m, n, k) in new[] { (1, 1, 1), (17, 33, 9), (65, 70, 129), (3, 130, 67), (130, 5, 16) })
            foreach (var (alpha, beta) in new[] { (1f, 0f), (0.7f, -1.3f), (-2f, 1f) })
                CheckGemm(transA, transB, m, n, k, alpha, beta, padA: 0, padB: 0, padC: 0);
    }

    [TestCase(false, false), TestCase(true, true), TestCase(false, true)]
    public void GemmHonoursLeadingDimensionsAndOffsets(bool transA, bool transB) =>
        CheckGemm(transA, transB, 37, 29, 41, 0.5f, 0.25f, padA: 3, padB: 5, padC: 7, offset: 11);

    private void CheckGemm(bool transA, bool transB, int m, int n, int k, float alpha, float beta,
        int padA, int padB, int padC, int offset = 0)
    {
        int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
        int lda = aCols + padA, ldb = bCols + padB, ldc = n + padC;
        var a = Random(offset + aRows * lda, (ulong)(m * 7 + n));
        var b = Random(offset + bRows * ldb, (ulong)(k * 13 + 1));
        var c = Random(offset + m * ldc, (ulong)(m + n + k));
        var expected = (float[])c.Clone();
        Blas.Sgemm(transA, transB, m, n, k, alpha, a.AsSpan(offset), lda, b.AsSpan(offset), ldb, beta, expected.AsSpan(offset), ldc);

        using var da = Upload(a);
        using var db = Upload(b);
        using var dc = Upload(c);
        Backend.Gemm(transA, transB, m, n, k, alpha, da.All.Slice(offset, a.Length - offset), lda,
            db.All.Slice(offset, b.Length - offset), ldb, beta, dc.All.Slice(offset, c.Length - offset), ldc);
        AssertClose(Download(dc), expected, $"gemm {(transA ? "T" : "N")}{(transB ? "T" : "N")} {m}x{n}x{k} alpha {alpha} beta {beta}");
    }

    // Batched: problem i reads A, B, C at i·stride (stride 0 = shared), against one Blas.Sgemm per problem.
    [TestCase(false, false, 0), TestCase(true, false, 70), TestCase(false, true, 0), TestCase(true, true, 70)]
    public void GemmBatchedMatchesOneBlasCallPerProblem(bool transA, bool transB, int strideA)
    {
        const int batch = 3, m = 13, n = 17, k = 5, ldb = 18, ldc = 19;
        int lda = transA ? 14 : 6;
        int rowsA = transA ? k : m, rowsB = transB ? n : k;
        int strideB = rowsB * ldb + 2, strideC = m * ldc + 1;
        var a = Random(strideA * (batch - 1) + rowsA * lda, 41);
        var b = Random(strideB * batch, 42);
        var c = Random(strideC * batch, 43);
        var expected = (float[])c.Clone();
        for (int i = 0; i < batch; i++)
            Blas.Sgemm(transA, transB, m, n, k, 0.7f, a.AsSpan(i * strideA), lda, b.AsSpan(i * strideB), ldb, 0.3f, expected.AsSpan(i * strideC), ldc);
        using var da = Upload(a);
        using var db = Upload(b);
        using var dc = Upload(c);
        Backend.GemmBatched(batch, transA, transB, m, n, k, 0.7f, da.All, lda, strideA, db.All, ldb, strideB, 0.3f, dc.All, ldc, strideC);
        AssertClose(Download(dc), expected, $"batched gemm {transA}/{transB}");
    }

    [Test]
    public void Im2ColBatchedAndAddSlicesMatchOneCallPerImage()
    {
        var w = new ConvWindow(Channels: 3, Height: 7, Width: 6, KernelH: 3, KernelW: 2, PadH: 1, PadW: 0, StrideH: 2, StrideW: 1);
        const int batch = 4;
        int imageStride = w.ImageCount + 3, columnStride = w.ColumnCount + 5;
        var images = Random(imageStride * batch, 51);
        var expectedColumns = new float[columnStride * batch];
        for (int i = 0; i < batch; i++)
            Im2Col.Forward(images.AsSpan(i * imageStride, w.ImageCount), w.Channels, w.Height, w.Width, w.KernelH, w.KernelW,
                w.PadH, w.PadW, w.StrideH, w.StrideW, w.DilationH, w.DilationW, expectedColumns.AsSpan(i * columnStride, w.ColumnCount));
        using var di = Upload(images);
        using var dcol = Upload(new float[columnStride * batch]);
        Backend.Im2ColBatched(w, batch, di.All, imageStride, dcol.All, columnStride);
        AssertClose(Download(dcol), expectedColumns, "batched im2col");

        // col2im of the columns back: each image is the adjoint of its own columns.
        var back = new float[imageStride * batch];
        for (int i = 0; i < batch; i++)
            Im2Col.Backward(expectedColumns.AsSpan(i * columnStride, w.ColumnCount), w.Channels, w.Height, w.Width, w.KernelH, w.KernelW,
                w.PadH, w.PadW, w.StrideH, w.StrideW, w.DilationH, w.DilationW, back.AsSpan(i * imageStride, w.ImageCount));
        using var dback = Upload(new float[imageStride * batch]);
        Backend.Col2ImBatched(w, batch, dcol.All, columnStride, dback.All, imageStride);
        AssertClose(Download(dback), back, "batched col2im");

        // AddSlices: destination += the sum of the slices.
        var slices = Random(5 * 11, 52);
        var dst = Random(11, 53);
        var sum = (float[])dst.Clone();
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 11; j++) sum[j] += slices[i * 11 + j];
        using var ds = Upload(slices);
        using var dd = Upload(dst);
        Backend.AddSlices(5, 11, ds.All, dd.All);
        AssertClose(Download(dd), sum, "add slices");
    }

    [Test]
    public void GemmWithBetaZeroIgnoresNaNInC()
    {
        int m = 5, n = 7, k = 3;
        var a = Random(m * k, 1);
        var b = Random(k * n, 2);
        var expected = new float[m * n];
        Blas.Sgemm(false, false, m, n, k, 1f, a, b, 0f, expected);
        using var da = Upload(a);
        using var db = Upload(b);
        using var dc = Upload(Enumerable.Repeat(float.NaN, m * n).ToArray());
        Backend.Gemm(false, false, m, n, k, 1f, da.All, k, db.All, n, 0f, dc.All, n);
        AssertClose(Download(dc), expected, "gemm beta 0 over NaN");
    }

    // ---- im2col / col2im ---------------------------------------------------------------------

    private static readonly ConvWindow[] Windows =
    [
        new(3, 7, 9, 3, 3),
        new(2, 11, 8, 5, 3, PadH: 2, PadW: 1, StrideH: 2, StrideW: 3),
        new(3, 13, 10, 3, 2, PadH: 1, PadW: 2, StrideH: 1, StrideW: 2, DilationH: 2, DilationW: 3),
        new(1, 6, 6, 1, 1),
        new(4, 9, 7, 4, 4, PadH: 3, PadW: 3, StrideH: 3, StrideW: 1),
    ];

    [Test]
    public void Im2ColAndCol2ImMatchTheCpu([Range(0, 4)] int which)
    {
        var w = Windows[which];
        const int offset = 5;
        var image = Random(offset + w.ImageCount, (ulong)which + 10);
        var cpuColumns = new float[w.ColumnCount];
        Im2Col.Forward(image.AsSpan(offset), w.Channels, w.Height, w.Width, w.KernelH, w.KernelW, w.PadH, w.PadW,
            w.StrideH, w.StrideW, w.DilationH, w.DilationW, cpuColumns);

        using var dImage = Upload(image);
        using var dColumns = Backend.Allocate(offset + w.ColumnCount);
        Backend.Im2Col(w, dImage.All.Slice(offset, w.ImageCount), dColumns.All.Slice(offset, w.ColumnCount));
        AssertClose(Download(dColumns.All.Slice(offset, w.ColumnCount)), cpuColumns, $"im2col {w}");

        var columns = Random(w.ColumnCount, (ulong)which + 20);
        var cpuImage = new float[w.ImageCount];
        Im2Col.Backward(columns, w.Channels, w.Height, w.Width, w.KernelH, w.KernelW, w.PadH, w.PadW,
            w.StrideH, w.StrideW, w.DilationH, w.DilationW, cpuImage);
        Backend.Upload(columns, dColumns.All.Slice(offset, w.ColumnCount));
        Backend.Fill(dImage.All, 123f); // col2im overwrites, it does not add
        Backend.Col2Im(w, dColumns.All.Slice(offset, w.ColumnCount), dImage.All.Slice(offset, w.ImageCount));
        AssertClose(Download(dImage.All.Slice(offset, w.ImageCount)), cpuImage, $"col2im {w}");
    }

    // ---- BLAS-1 and elementwise --------------------------------------------------------------

    private const int N = 1031; // not a multiple of the work-group size

    [Test]
    public void AxpyScaleAddMulMatchTensorPrimitives()
    {
        var x = Random(N, 3);
        var y = Random(N, 4);
        using var dx = Upload(x);
        using var dy = Upload(y);
        using var dz = Backend.Allocate(N);

        var expected = new float[N];
        TensorPrimitives.MultiplyAdd(x, 0.37f, y, expected);
        Backend.Axpy(0.37f, dx.All, dy.All);
        AssertClose(Download(dy), expected, "axpy");

        TensorPrimitives.Multiply(x, -1.5f, expected);
        Backend.Scale(-1.5f, dx.All, dz.All);
        AssertClose(Download(dz), expected, "scale");
        Backend.Scale(-1.5f, dx.All, dx.All);
        AssertClose(Download(dx), expected, "scale in place");

        Backend.Upload(x, dx.All);
        Backend.Upload(y, dy.All);
        TensorPrimitives.Add(x, y, expected);
        Backend.Add(dx.All, dy.All, dz.All);
        AssertClose(Download(dz), expected, "add");
        TensorPrimitives.Multiply(x, y, expected);
        Backend.Mul(dx.All, dy.All, dz.All);
        AssertClose(Download(dz), expected, "mul");

        // Views inside larger buffers: only the viewed range changes.
        Backend.Fill(dz.All, 9f);
        Backend.Add(dx.All.Slice(3, 100), dy.All.Slice(7, 100), dz.All.Slice(11, 100));
        var z = Download(dz);
        for (int i = 0; i < N; i++)
        {
            float want = i >= 11 && i < 111 ? x[i - 11 + 3] + y[i - 11 + 7] : 9f;
            Assert.That(z[i], Is.EqualTo(want).Within(1e-6), $"add on views [{i}]");
        }
    }

    /// <summary>The CPU layer's forward (and backward with top diff <paramref name="topDiff"/>) on an N-element blob.</summary>
    private static (float[] top, float[] bottomDiff) CpuLayer(LayerParameter param, float[] x, float[] topDiff, int[]? shape = null)
    {
        var layer = LayerRegistry.Create(param);
        var bottom = new Blob("x", shape ?? [x.Length]);
        x.CopyTo(bottom.Data);
        var top = new Blob("y");
        layer.SetUp([bottom], [top]);
        layer.Forward([bottom], [top]);
        topDiff.CopyTo(top.Diff);
        layer.Backward([top], [true], [bottom]);
        return (top.Data.ToArray(), bottom.Diff.ToArray());
    }

    [TestCase(0f), TestCase(0.1f), TestCase(-0.5f)]
    public void ReluMatchesTheCpuLayer(float slope)
    {
        var x = Random(N, 5);
        x[0] = 0f; // Caffe's convention at 0: the slope's side
        var dy = Random(N, 6);
        var param = new LayerParameter { Name = "relu", Type = "ReLU", ReluParam = new ReLUParameter { NegativeSlope = slope } };
        var (top, bottomDiff) = CpuLayer(param, x, dy);

        using var dX = Upload(x);
        using var dY = Backend.Allocate(N);
        using var dDy = Upload(dy);
        using var dDx = Backend.Allocate(N);
        Backend.ReluForward(dX.All, dY.All, slope);
        Backend.ReluBackward(dX.All, dDy.All, dDx.All, slope);
        AssertClose(Download(dY), top, $"relu forward slope {slope}");
        AssertClose(Download(dDx), bottomDiff, $"relu backward slope {slope}");
    }

    [TestCase("Sigmoid"), TestCase("TanH")]
    public void SigmoidAndTanhMatchTheCpuLayers(string type)
    {
        var x = Random(N, 7, -12f, 12f); // into the saturated tails
        var dy = Random(N, 8);
        var (top, bottomDiff) = CpuLayer(new LayerParameter { Name = "act", Type = type }, x, dy);

        using var dX = Upload(x);
        using var dY = Backend.Allocate(N);
        using var dDy = Upload(dy);
        using var dDx = Backend.Allocate(N);
        if (type == "Sigmoid")
        {
            Backend.SigmoidForward(dX.All, dY.All);
            Backend.SigmoidBackward(dY.All, dDy.All, dDx.All);
        }
        else
        {
            Backend.TanhForward(dX.All, dY.All);
            Backend.TanhBackward(dY.All, dDy.All, dDx.All);
        }
        AssertClose(Download(dY), top, $"{type} forward");
        AssertClose(Download(dDx), bottomDiff, $"{type} backward");
    }

    // ---- softmax ---------------------------------------------------------------------------

    [TestCase(13, 10, 1), TestCase(3, 7, 11), TestCase(1, 1000, 1)]
    public void SoftmaxMatchesTheCpuLayer(int outer, int channels, int inner)
    {
        int count = outer * channels * inner;
        var x = Random(count, (ulong)count, -20f, 20f); // large logits: the maximum must be subtracted
        var dy = Random(count, (ulong)count + 1);
        var (top, bottomDiff) = CpuLayer(new LayerParameter { Name = "prob", Type = "Softmax" }, x, dy, [outer, channels, inner]);

        using var dX = Upload(x);
        using var dY = Backend.Allocate(count);
        using var dDy = Upload(dy);
        using var dDx = Backend.Allocate(count);
        Backend.SoftmaxForward(outer, channels, inner, dX.All, dY.All);
        Backend.SoftmaxBackward(outer, channels, inner, dY.All, dDy.All, dDx.All);
        AssertClose(Download(dY), top, $"softmax {outer}x{channels}x{inner}");
        AssertClose(Download(dDx), bottomDiff, $"softmax backward {outer}x{channels}x{inner}");

        Backend.SoftmaxForward(outer, channels, inner, dX.All, dX.All);
        AssertClose(Download(dX), top, "softmax in place");
    }

    // ---- pooling ---------------------------------------------------------------------------

    [TestCase(PoolingParameter.Types.PoolMethod.Max, 3u, 2u, 0u, 9, 11)]
    [TestCase(PoolingParameter.Types.PoolMethod.Max, 3u, 2u, 1u, 7, 10)]
    [TestCase(PoolingParameter.Types.PoolMethod.Max, 2u, 1u, 0u, 5, 5)]
    [TestCase(PoolingParameter.Types.PoolMethod.Ave, 3u, 2u, 1u, 9, 11)]
    [TestCase(PoolingParameter.Types.PoolMethod.Ave, 5u, 3u, 2u, 13, 8)]
    [TestCase(PoolingParameter.Types.PoolMethod.Ave, 2u, 2u, 0u, 6, 7)]
    public void PoolingMatchesTheCpuLayer(PoolingParameter.Types.PoolMethod method, uint kernel, uint stride, uint pad, int h, int w)
    {
        int num = 2, channels = 3;
        // Distinct values (a shuffled ramp), so the maximum of every window is unique.
        var x = new float[num * channels * h * w];
        var order = Enumerable.Range(0, x.Length).ToArray();
        new Rng(99).Shuffle<int>(order);
        for (int i = 0; i < x.Length; i++) x[i] = (order[i] - x.Length / 2f) * 0.05f;

        var param = new LayerParameter
        {
            Name = "pool",
            Type = "Pooling",
            PoolingParam = new PoolingParameter { Pool = method, KernelSize = kernel, Stride = stride, Pad = pad },
        };
        var layer = LayerRegistry.Create(param);
        var bottom = new Blob("x", num, channels, h, w);
        x.CopyTo(bottom.Data);
        bool max = method == PoolingParameter.Types.PoolMethod.Max;
        var tops = max ? new[] { new Blob("y"), new Blob("mask") } : [new Blob("y")];
        layer.SetUp([bottom], tops);
        layer.Forward([bottom], tops);

        var window = new PoolWindow(h, w, tops[0].Dim(2), tops[0].Dim(3), (int)kernel, (int)kernel, (int)stride, (int)stride, (int)pad, (int)pad);
        int outCount = (int)tops[0].Count;
        using var dX = Upload(x);
        using var dY = Backend.Allocate(outCount);
        using var dMask = Backend.Allocate(outCount);
        Backend.PoolForward(max ? PoolKind.Max : PoolKind.Average, window, num * channels, dX.All, dY.All, max ? dMask.All : (BufferView?)null);
        AssertClose(Download(dY), tops[0].Data, $"{method} pooling {window}");
        if (max) AssertClose(Download(dMask), tops[1].Data, $"max pooling mask {window}", 0);
    }
}
