namespace Engine.Layers;

/// <summary>
/// Scratch that every Convolution and Deconvolution layer run from one thread shares: the
/// per-worker column buffers and the per-chunk partial parameter gradients. A net runs its layers
/// one at a time, so one set, as large as the largest layer needs, serves them all (ResNet-50 at
/// batch 8 holds tens of MiB here instead of the 800 MiB one set per layer took). It grows when a
/// layer needs more and never shrinks; once a net has run every layer, nothing more is allocated.
/// Each calling thread has its own, so nets run on different threads do not share.
/// </summary>
internal sealed class ConvolutionWorkspace
{
    [ThreadStatic] private static ConvolutionWorkspace? current;

    private float[][] _columns = [];
    private float[][] _weightPartials = [];
    private float[][] _biasPartials = [];

    /// <summary>The workspace of the calling thread.</summary>
    public static ConvolutionWorkspace ForThisThread => current ??= new ConvolutionWorkspace();

    /// <summary>Bytes held by the calling thread's workspace (0 if it has none yet).</summary>
    public static long BytesOnThisThread => current?.Bytes ?? 0;

    /// <summary>At least <paramref name="slots"/> column buffers of at least <paramref name="size"/> floats each.</summary>
    public float[][] Columns(int slots, int size)
    {
        Grow(ref _columns, slots, size);
        return _columns;
    }

    /// <summary>At least <paramref name="chunks"/> weight-gradient and bias-gradient buffers of the given sizes.</summary>
    public (float[][] weights, float[][] biases) Partials(int chunks, long weightCount, int biasCount)
    {
        Grow(ref _weightPartials, chunks, weightCount);
        Grow(ref _biasPartials, chunks, biasCount);
        return (_weightPartials, _biasPartials);
    }

    private long Bytes
    {
        get
        {
            long floats = 0;
            foreach (var set in new[] { _columns, _weightPartials, _biasPartials })
                foreach (var buffer in set) floats += buffer.Length;
            return floats * sizeof(float);
        }
    }

    private static void Grow(ref float[][] set, int count, long size)
    {
        if (set.Length < count)
        {
            int old = set.Length;
            Array.Resize(ref set, count);
            for (int i = old; i < count; i++) set[i] = [];
        }
        for (int i = 0; i < count; i++)
            if (set[i].Length < size) set[i] = new float[size];
    }
}
