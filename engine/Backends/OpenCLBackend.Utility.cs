using Engine.OpenCL;

namespace Engine.Backends;

/// <summary>The utility layers' primitives (IBackend.Utility.cs) on the kernels of utility.cl.</summary>
public sealed partial class OpenCLBackend
{
    private void Utility(string kernel, long items, params ReadOnlySpan<KernelArg> args) =>
        Launch1D(Program("utility").Kernel(kernel), items, args);

    public void CopyBlocks(int blocks, int rows, int cols, BufferView source, int srcBlock, int srcRow,
        BufferView destination, int dstBlock, int dstRow, bool accumulate = false)
    {
        if (!UtilityChecks.Blocks(blocks, rows, cols, source, srcBlock, srcRow, destination, dstBlock, dstRow)) return;
        int n = checked(blocks * rows * cols);
        Utility("copy_blocks", n, n, rows, cols, Buf(source), source.Offset, srcBlock, srcRow,
            Buf(destination), destination.Offset, dstBlock, dstRow, accumulate ? 1 : 0);
    }

    public void Divide(BufferView a, BufferView b, BufferView y)
    {
        int n = Same(a, b, y);
        Utility("div_map", n, n, Buf(a), a.Offset, Buf(b), b.Offset, Buf(y), y.Offset);
    }

    public void MaxArgForward(BufferView a, BufferView b, int index, BufferView y, BufferView argmax)
    {
        int n = Same(a, b, y);
        SameCount(n, argmax.Count, nameof(MaxArgForward));
        if (index < 1) throw new ArgumentOutOfRangeException(nameof(index), $"MaxArgForward: index {index} (1 for the first two bottoms)");
        Utility("max_arg_forward", n, n, index, Buf(a), a.Offset, Buf(b), b.Offset, Buf(y), y.Offset, Buf(argmax), argmax.Offset);
    }

    public void MaxArgBackward(BufferView argmax, int index, BufferView dy, BufferView dx)
    {
        int n = Same(argmax, dy, dx);
        Utility("max_arg_backward", n, n, index, Buf(argmax), argmax.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);
    }

    public void ReduceRows(RowReduction op, int rows, int dim, float scale, BufferView x, BufferView y)
    {
        UtilityChecks.Rows(rows, dim, x, y);
        if (rows == 0) return;
        // One work-group per row; its size a power of two the kernel's local array (128) holds.
        long local = 1;
        while (local * 2 <= Math.Min(128, Context.Device.MaxWorkGroupSize)) local *= 2;
        Program("utility").Kernel("reduce_rows").Launch([rows * local], [local],
            dim, (int)op, scale, Buf(x), x.Offset, Buf(y), y.Offset);
    }

    public void ReduceRowsBackward(RowReduction op, int rows, int dim, float scale, BufferView x, BufferView dy, BufferView dx)
    {
        UtilityChecks.Rows(rows, dim, x, dy);
        UtilityChecks.Fits(dx, (long)rows * dim, "ReduceRowsBackward: dx");
        int n = rows * dim;
        Utility("reduce_rows_backward", n, n, dim, (int)op, scale, Buf(x), x.Offset, Buf(dy), dy.Offset, Buf(dx), dx.Offset);
    }

    public void TopK(int outer, int dim, int inner, int k, BufferView x, BufferView y, bool writeIndices, bool writeValues)
    {
        UtilityChecks.TopK(outer, dim, inner, k, x, y, writeIndices, writeValues);
        int n = outer * inner;
        Utility("top_k", n, n, dim, inner, k, Buf(x), x.Offset, Buf(y), y.Offset, writeIndices ? 1 : 0, writeValues ? 1 : 0);
    }

    public void GatherRows(int sourceRows, int inner, BufferView source, BufferView indices, BufferView destination)
    {
        UtilityChecks.Gather(sourceRows, inner, source, indices, destination);
        int n = indices.Count * inner;
        Utility("gather_rows", n, n, inner, sourceRows, Buf(source), source.Offset, Buf(indices), indices.Offset,
            Buf(destination), destination.Offset);
    }

    public void ScatterAddRows(int destinationRows, int inner, BufferView indices, BufferView source, BufferView destination, bool accumulate)
    {
        UtilityChecks.Gather(destinationRows, inner, destination, indices, source);
        int n = destinationRows * inner;
        Utility("scatter_add_rows", n, n, inner, indices.Count, Buf(indices), indices.Offset, Buf(source), source.Offset,
            Buf(destination), destination.Offset, accumulate ? 1 : 0);
    }
}
