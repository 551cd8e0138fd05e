using System.Numerics.Tensors;

namespace Engine.Layers;

/// <summary>
/// One LSTM step on N items of H units, Caffe's LSTMUnit arithmetic. The gate pre-activations
/// are N×4H in the order i, f, o, g: i = σ, f = σ, o = σ, g = tanh;
/// c = cont·f·c_prev + i·g; h = o·tanh(c). A cont of 0 makes the forget gate exactly 0.
/// </summary>
internal static class LstmCell
{
    /// <summary>
    /// Turn the pre-activations in <paramref name="gates"/> into the gate values (in place) and
    /// compute c and h.
    /// </summary>
    public static void Forward(int n, int h, Span<float> gates, ReadOnlySpan<float> cPrev, ReadOnlySpan<float> cont,
        Span<float> c, Span<float> hOut)
    {
        int g4 = 4 * h;
        for (int item = 0; item < n; item++)
        {
            var a = gates.Slice(item * g4, g4);
            TensorPrimitives.Sigmoid(a[..(3 * h)], a[..(3 * h)]);
            TensorPrimitives.Tanh(a[(3 * h)..], a[(3 * h)..]);
            float ct = cont[item];
            int off = item * h;
            for (int d = 0; d < h; d++)
            {
                float fe = ct == 0f ? 0f : ct * a[h + d];
                c[off + d] = fe * cPrev[off + d] + a[d] * a[3 * h + d];
            }
            var hRow = hOut.Slice(off, h);
            TensorPrimitives.Tanh(c.Slice(off, h), hRow);
            TensorPrimitives.Multiply(hRow, a.Slice(2 * h, h), hRow);
        }
    }

    /// <summary>
    /// Backward of one step. <paramref name="gates"/> holds the gate values from forward,
    /// <paramref name="dh"/> the gradient for h, <paramref name="dc"/> the gradient for c arriving from
    /// later steps (overwritten with the gradient for c_prev); the gradient for the pre-activations
    /// is written to <paramref name="dGates"/>.
    /// </summary>
    public static void Backward(int n, int h, ReadOnlySpan<float> gates, ReadOnlySpan<float> cPrev, ReadOnlySpan<float> c,
        ReadOnlySpan<float> cont, ReadOnlySpan<float> dh, Span<float> dc, Span<float> dGates)
    {
        int g4 = 4 * h;
        for (int item = 0; item < n; item++)
        {
            var a = gates.Slice(item * g4, g4);
            var da = dGates.Slice(item * g4, g4);
            float ct = cont[item];
            int off = item * h;
            // tanh(c) goes first into the o slot of the gradient row; each d reads it before writing there.
            TensorPrimitives.Tanh(c.Slice(off, h), da.Slice(2 * h, h));
            for (int d = 0; d < h; d++)
            {
                float i = a[d], f = a[h + d], o = a[2 * h + d], g = a[3 * h + d];
                float tc = da[2 * h + d];
                float dhv = dh[off + d];
                float dcv = dc[off + d] + dhv * o * (1f - tc * tc);
                da[d] = dcv * g * i * (1f - i);
                da[h + d] = ct == 0f ? 0f : dcv * cPrev[off + d] * ct * f * (1f - f);
                da[2 * h + d] = dhv * tc * o * (1f - o);
                da[3 * h + d] = dcv * i * (1f - g * g);
                dc[off + d] = ct == 0f ? 0f : dcv * ct * f;
            }
        }
    }
}
