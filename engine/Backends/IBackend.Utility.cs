namespace Engine.Backends;

/// <summary>
/// Primitives of the utility layers (Concat, Slice, Crop, Tile, Eltwise, Reduction, ArgMax,
/// BatchReindex, Embed, Filter): strided block copies, the Eltwise max with its argmax, row
/// reductions, top-k and gathers of rows by index. CPU: <see cref="CpuBackend"/>
/// (CpuBackend.Utility.cs); OpenCL: engine/OpenCL/kernels/utility.cl.
/// </summary>
public partial interface IBackend
{
    /// <summary>
    /// A strided 3-D block copy: for b &lt; blocks, r &lt; rows, c &lt; cols,
    /// destination[b·dstBlock + r·dstRow + c] = source[b·srcBlock + r·srcRow + c] (added to it with
    /// <paramref name="accumulate"/>). Strides are ≥ 0; a source stride of 0 repeats (broadcasts).
    /// The destination elements must be distinct and must not overlap the source. Concat, Slice,
    /// Tile and Crop are made of it.
    /// </summary>
    void CopyBlocks(int blocks, int rows, int cols, BufferView source, int srcBlock, int srcRow,
        BufferView destination, int dstBlock, int dstRow, bool accumulate = false);

    /// <summary>y = a / b, elementwise (y may be an input).</summary>
    void Divide(BufferView a, BufferView b, BufferView y);

    /// <summary>
    /// One step of Eltwise MAX over bottoms x_0, x_1, …. <paramref name="index"/> 1:
    /// y = a &gt; b ? a : b and argmax = a &gt; b ? 0 : 1 (ties to b), with a = x_0, b = x_1.
    /// <paramref name="index"/> ≥ 2: a is the running maximum (usually y itself) and b = x_index;
    /// where b &gt; a, y = b and argmax = index, elsewhere y = a and argmax is kept. Argmax holds
    /// bottom indices as floats.
    /// </summary>
    void MaxArgForward(BufferView a, BufferView b, int index, BufferView y, BufferView argmax);

    /// <summary>dx = dy where argmax == index, 0 elsewhere (Eltwise MAX backward for bottom <paramref name="index"/>).</summary>
    void MaxArgBackward(BufferView argmax, int index, BufferView dy, BufferView dx);

    /// <summary>y[r] = scale · Σ_i f(x[r·dim + i]) for each of <paramref name="rows"/> rows, f = x, |x| or x².</summary>
    void ReduceRows(RowReduction op, int rows, int dim, float scale, BufferView x, BufferView y);

    /// <summary>dx[r·dim + i] = scale · dy[r] · f′(x[r·dim + i]): 1, sign(x) or 2x (the gradient of <see cref="ReduceRows"/>).</summary>
    void ReduceRowsBackward(RowReduction op, int rows, int dim, float scale, BufferView x, BufferView dy, BufferView dx);

    /// <summary>
    /// The k largest of each line along the middle axis of an outer × dim × inner array, in
    /// descending (value, index) order (ties to the larger index, as Caffe's ArgMax). Per outer
    /// index the output holds a k × inner block of indices (as floats) when
    /// <paramref name="writeIndices"/>, then a k × inner block of values when
    /// <paramref name="writeValues"/>.
    /// </summary>
    void TopK(int outer, int dim, int inner, int k, BufferView x, BufferView y, bool writeIndices, bool writeValues);

    /// <summary>
    /// destination row k = source row indices[k] (rows of <paramref name="inner"/> floats; the
    /// indices are floats, their count the number of rows gathered). An index that is not an
    /// integer in [0, sourceRows) gives a row of NaN (a device cannot throw).
    /// </summary>
    void GatherRows(int sourceRows, int inner, BufferView source, BufferView indices, BufferView destination);

    /// <summary>
    /// The adjoint of <see cref="GatherRows"/>: destination row r = Σ over k with indices[k] == r
    /// of source row k, in increasing k (added to the destination with
    /// <paramref name="accumulate"/>, else rows no index names become 0). No atomics: each
    /// destination element scans the indices.
    /// </summary>
    void ScatterAddRows(int destinationRows, int inner, BufferView indices, BufferView source, BufferView destination, bool accumulate);
}

/// <summary>What <see cref="IBackend.ReduceRows"/> sums (MEAN is SUM with scale 1/dim).</summary>
public enum RowReduction { Sum, Asum, Sumsq }

/// <summary>Argument checks shared by the CPU and OpenCL implementations of the utility primitives.</summary>
internal static class UtilityChecks
{
    /// <summary>False when there is nothing to copy; throws when a strided block does not fit its view.</summary>
    public static bool Blocks(int blocks, int rows, int cols, BufferView source, int srcBlock, int srcRow,
        BufferView destination, int dstBlock, int dstRow)
    {
        if (blocks < 0 || rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(nameof(blocks), $"CopyBlocks: negative size {blocks}×{rows}×{cols}");
        if (srcBlock < 0 || srcRow < 0 || dstBlock < 0 || dstRow < 0) throw new ArgumentOutOfRangeException(nameof(srcBlock), "CopyBlocks: negative stride");
        if (blocks == 0 || rows == 0 || cols == 0) return false;
        Fits(source, (long)(blocks - 1) * srcBlock + (long)(rows - 1) * srcRow + cols, "source");
        Fits(destination, (long)(blocks - 1) * dstBlock + (long)(rows - 1) * dstRow + cols, "destination");
        return true;
    }

    public static void Fits(BufferView v, long needed, string what)
    {
        if (needed > v.Count) throw new ArgumentException($"{what} needs {needed} floats but its view holds {v.Count}");
    }

    public static void Rows(int rows, int dim, BufferView x, BufferView y)
    {
        if (rows < 0 || dim < 0) throw new ArgumentOutOfRangeException(nameof(rows), $"ReduceRows: negative size {rows}×{dim}");
        Fits(x, (long)rows * dim, "ReduceRows: x");
        Fits(y, rows, "ReduceRows: y");
    }

    public static void TopK(int outer, int dim, int inner, int k, BufferView x, BufferView y, bool writeIndices, bool writeValues)
    {
        if (outer < 0 || dim < 0 || inner < 0 || k < 1 || k > dim) throw new ArgumentOutOfRangeException(nameof(k), $"TopK: k {k} of {outer}×{dim}×{inner}");
        if (!writeIndices && !writeValues) throw new ArgumentException("TopK: writes neither indices nor values");
        Fits(x, (long)outer * dim * inner, "TopK: x");
        Fits(y, (long)outer * k * inner * ((writeIndices ? 1 : 0) + (writeValues ? 1 : 0)), "TopK: y");
    }

    public static void Gather(int sourceRows, int inner, BufferView source, BufferView indices, BufferView destination)
    {
        if (sourceRows < 0 || inner < 0) throw new ArgumentOutOfRangeException(nameof(sourceRows), $"GatherRows: negative size {sourceRows}×{inner}");
        Fits(source, (long)sourceRows * inner, "GatherRows: source");
        Fits(destination, (long)indices.Count * inner, "GatherRows: destination");
    }
}
