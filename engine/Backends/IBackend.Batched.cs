namespace Engine.Backends;

/// <summary>
/// Batched forms of the products and windows, so a layer hands a whole batch of images to the
/// device in one call (one kernel launch) instead of one call per image: the i-th problem's
/// arrays start i·stride floats after the views' starts (stride 0: the same array every time).
/// </summary>
public partial interface IBackend
{
    /// <summary><paramref name="batch"/> independent <see cref="Gemm"/>s: C_i = alpha·op(A_i)·op(B_i) + beta·C_i.</summary>
    void GemmBatched(int batch, bool transA, bool transB, int m, int n, int k, float alpha, BufferView a, int lda, int strideA,
        BufferView b, int ldb, int strideB, float beta, BufferView c, int ldc, int strideC);

    /// <summary><see cref="Im2Col"/> of <paramref name="batch"/> images.</summary>
    void Im2ColBatched(in ConvWindow window, int batch, BufferView images, int imageStride, BufferView columns, int columnStride);

    /// <summary><see cref="Col2Im"/> of <paramref name="batch"/> images.</summary>
    void Col2ImBatched(in ConvWindow window, int batch, BufferView columns, int columnStride, BufferView images, int imageStride);

    /// <summary>destination += Σ_i slices[i·length, (i+1)·length), for i below <paramref name="count"/>, added in order of i.</summary>
    void AddSlices(int count, int length, BufferView slices, BufferView destination);
}
