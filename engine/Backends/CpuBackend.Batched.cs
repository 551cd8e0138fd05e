using System.Numerics.Tensors;
using Engine.Cpu;

namespace Engine.Backends;

public sealed partial class CpuBackend
{
    public void GemmBatched(int batch, bool transA, bool transB, int m, int n, int k, float alpha, BufferView a, int lda, int strideA,
        BufferView b, int ldb, int strideB, float beta, BufferView c, int ldc, int strideC)
    {
        for (int i = 0; i < batch; i++)
            Blas.Sgemm(transA, transB, m, n, k, alpha, Span(a)[(i * strideA)..], lda, Span(b)[(i * strideB)..], ldb,
                beta, Span(c)[(i * strideC)..], ldc);
    }

    public void Im2ColBatched(in ConvWindow window, int batch, BufferView images, int imageStride, BufferView columns, int columnStride)
    {
        for (int i = 0; i < batch; i++)
            Im2Col(window, images.Slice(i * imageStride, window.ImageCount), columns.Slice(i * columnStride, window.ColumnCount));
    }

    public void Col2ImBatched(in ConvWindow window, int batch, BufferView columns, int columnStride, BufferView images, int imageStride)
    {
        for (int i = 0; i < batch; i++)
            Col2Im(window, columns.Slice(i * columnStride, window.ColumnCount), images.Slice(i * imageStride, window.ImageCount));
    }

    public void AddSlices(int count, int length, BufferView slices, BufferView destination)
    {
        Same(length, destination.Count);
        var dst = Span(destination);
        var src = Span(slices);
        for (int i = 0; i < count; i++) TensorPrimitives.Add(dst, src.Slice(i * length, length), dst);
    }
}
