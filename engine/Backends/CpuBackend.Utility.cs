using System.Numerics.Tensors;

namespace Engine.Backends;

/// <summary>The utility layers' primitives on host arrays (IBackend.Utility.cs), with the layers' own loops.</summary>
public sealed partial class CpuBackend
{
    public void CopyBlocks(int blocks, int rows, int cols, BufferView source, int srcBlock, int srcRow,
        BufferView destination, int dstBlock, int dstRow, bool accumulate = false)
    {
        if (!UtilityChecks.Blocks(blocks, rows, cols, source, srcBlock, srcRow, destination, dstBlock, dstRow)) return;
        var src = Span(source);
        var dst = Span(destination);
        for (int b = 0; b < blocks; b++)
            for (int r = 0; r < rows; r++)
            {
                var s = src.Slice(b * srcBlock + r * srcRow, cols);
                var d = dst.Slice(b * dstBlock + r * dstRow, cols);
                if (accumulate) TensorPrimitives.Add(d, s, d);
                else s.CopyTo(d);
            }
    }

    public void Divide(BufferView a, BufferView b, BufferView y)
    {
        Same(a.Count, b.Count, y.Count);
        TensorPrimitives.Divide(Span(a), Span(b), Span(y));
    }

    public void MaxArgForward(BufferView a, BufferView b, int index, BufferView y, BufferView argmax)
    {
        Same(a.Count, b.Count, y.Count);
        Same(a.Count, argmax.Count);
        if (index < 1) throw new ArgumentOutOfRangeException(nameof(index), $"MaxArgForward: index {index} (1 for the first two bottoms)");
        var av = Span(a);
        var bv = Span(b);
        var yv = Span(y);
        var arg = Span(argmax);
        // The loops of EltwiseLayer.Forward: strict > both times, so the first pair ties to b.
        if (index == 1)
            for (int k = 0; k < yv.Length; k++)
            {
                if (av[k] > bv[k]) { yv[k] = av[k]; arg[k] = 0; }
                else { yv[k] = bv[k]; arg[k] = 1; }
            }
        else
            for (int k = 0; k < yv.Length; k++)
            {
                if (bv[k] > av[k]) { yv[k] = bv[k]; arg[k] = index; }
                else yv[k] = av[k];
            }
    }

    public void MaxArgBackward(BufferView argmax, int index, BufferView dy, BufferView dx)
    {
        Same(argmax.Count, dy.Count, dx.Count);
        var arg = Span(argmax);
        var g = Span(dy);
        var d = Span(dx);
        for (int k = 0; k < d.Length; k++) d[k] = arg[k] == index ? g[k] : 0f;
    }

    public void ReduceRows(RowReduction op, int rows, int dim, float scale, BufferView x, BufferView y)
    {
        UtilityChecks.Rows(rows, dim, x, y);
        var xs = Span(x);
        var ys = Span(y);
        // ReductionLayer.Forward's loop.
        for (int n = 0; n < rows; n++)
        {
            var row = xs.Slice(n * dim, dim);
            float v = op switch
            {
                RowReduction.Asum => TensorPrimitives.SumOfMagnitudes(row),
                RowReduction.Sumsq => TensorPrimitives.SumOfSquares(row),
                _ => TensorPrimitives.Sum(row),
            };
            ys[n] = v * scale;
        }
    }

    public void ReduceRowsBackward(RowReduction op, int rows, int dim, float scale, BufferView x, BufferView dy, BufferView dx)
    {
        UtilityChecks.Rows(rows, dim, x, dy);
        UtilityChecks.Fits(dx, (long)rows * dim, "ReduceRowsBackward: dx");
        var xs = Span(x);
        var g = Span(dy);
        var d = Span(dx);
        // ReductionLayer.Backward's loop.
        for (int n = 0; n < rows; n++)
        {
            float s = g[n] * scale;
            var dr = d.Slice(n * dim, dim);
            var row = xs.Slice(n * dim, dim);
            switch (op)
            {
                case RowReduction.Asum:
                    for (int i = 0; i < dim; i++) dr[i] = row[i] > 0 ? s : row[i] < 0 ? -s : 0f;
                    break;
                case RowReduction.Sumsq:
                    TensorPrimitives.Multiply(row, 2f * s, dr);
                    break;
                default:
                    dr.Fill(s);
                    break;
            }
        }
    }

    public void TopK(int outer, int dim, int inner, int k, BufferView x, BufferView y, bool writeIndices, bool writeValues)
    {
        UtilityChecks.TopK(outer, dim, inner, k, x, y, writeIndices, writeValues);
        var xs = Span(x);
        var ys = Span(y);
        int block = k * inner, perOuter = block * ((writeIndices ? 1 : 0) + (writeValues ? 1 : 0));
        for (int o = 0; o < outer; o++)
            for (int s = 0; s < inner; s++)
            {
                int at = o * dim * inner + s;
                // k passes, each taking the largest (value, index) below the previous pick: the
                // same order as ArgMaxLayer's partial selection sort, with no scratch.
                float prevValue = 0;
                int prevIndex = -1;
                for (int j = 0; j < k; j++)
                {
                    int best = -1;
                    float bestValue = 0;
                    for (int d = 0; d < dim; d++)
                    {
                        float v = xs[at + d * inner];
                        if (prevIndex >= 0 && !(v < prevValue || (v == prevValue && d < prevIndex))) continue;
                        if (best < 0 || v > bestValue || (v == bestValue && d > best)) { best = d; bestValue = v; }
                    }
                    int outAt = o * perOuter + j * inner + s;
                    if (writeIndices) ys[outAt] = best;
                    if (writeValues) ys[outAt + (writeIndices ? block : 0)] = bestValue;
                    prevValue = bestValue;
                    prevIndex = best;
                }
            }
    }

    public void GatherRows(int sourceRows, int inner, BufferView source, BufferView indices, BufferView destination)
    {
        UtilityChecks.Gather(sourceRows, inner, source, indices, destination);
        var src = Span(source);
        var idx = Span(indices);
        var dst = Span(destination);
        for (int k = 0; k < idx.Length; k++)
        {
            float v = idx[k];
            var row = dst.Slice(k * inner, inner);
            if (v >= 0 && v < sourceRows && v == MathF.Floor(v)) src.Slice((int)v * inner, inner).CopyTo(row);
            else row.Fill(float.NaN);
        }
    }

    public void ScatterAddRows(int destinationRows, int inner, BufferView indices, BufferView source, BufferView destination, bool accumulate)
    {
        UtilityChecks.Gather(destinationRows, inner, destination, indices, source);
        var idx = Span(indices);
        var src = Span(source);
        var dst = Span(destination).Slice(0, destinationRows * inner);
        if (!accumulate) dst.Clear();
        for (int k = 0; k < idx.Length; k++)
        {
            float v = idx[k];
            if (!(v >= 0 && v < destinationRows && v == MathF.Floor(v))) continue;
            var row = dst.Slice((int)v * inner, inner);
            TensorPrimitives.Add(row, src.Slice(k * inner, inner), row);
        }
    }
}
