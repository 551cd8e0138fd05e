namespace Engine.Cpu;

// Stub until the cpu branch lands: plain loops with the final signatures.
public static class Blas
{
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = 0;
                for (int p = 0; p < k; p++)
                    s += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * n + j]);
            }
    }

    public static void Sgemv(bool transA, int m, int n, float alpha, ReadOnlySpan<float> a,
        ReadOnlySpan<float> x, float beta, Span<float> y)
    {
        int rows = transA ? n : m, inner = transA ? m : n;
        for (int i = 0; i < rows; i++)
        {
            float s = 0;
            for (int p = 0; p < inner; p++) s += (transA ? a[p * n + i] : a[i * n + p]) * x[p];
            y[i] = alpha * s + (beta == 0 ? 0 : beta * y[i]);
        }
    }
}
