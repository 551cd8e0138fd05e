namespace Engine.Layers;

/// <summary>
/// Scratch that every Convolution and Deconvolution layer run from one thread shares: the
/// per-worker column buffers and the per-chunk partial parameter gradients. A net runs its layers
/// one at a time, so one set, as large as the largest layer needs, serves them all (ResNet-50 at
/// batch 8 holds tens of MiB here instead of the 800 MiB one set per layer took). It grows when a
/// layer needs more and never shrinks; once a net has run every layer, nothing more is allocated.
/// Each calling thread has its own, so nets run on different threads do not share.
/// <para>
/// Layers announce what they will take (<see cref="ReserveColumns"/> when reshaped,
/// <see cref="ReservePartials"/> when run forward), and a buffer that has to grow is made at once
/// as large as any announced need for its slot. Grown one layer at a time instead, each larger
/// layer left the buffers it outgrew as garbage that stayed resident (AlexNet at batch 10: 8 MiB of
/// columns and 44 MiB of partial gradients, about 7% of the process's peak), as the .NET GC
/// collects the large-object heap only when its budget runs out.
/// </para>
/// </summary>
internal sealed class ConvolutionWorkspace
{
    [ThreadStatic] private static ConvolutionWorkspace? current;

    private float[][] _columns = [];
    private float[][] _weightPartials = [];
    private float[][] _biasPartials = [];

    // The largest size announced for each column slot and each partial-gradient chunk.
    private long[] _columnNeeds = [];
    private long[] _weightNeeds = [];
    private long[] _biasNeeds = [];

    /// <summary>The workspace of the calling thread.</summary>
    public static ConvolutionWorkspace ForThisThread => current ??= new ConvolutionWorkspace();

    /// <summary>Bytes held by the calling thread's workspace (0 if it has none yet).</summary>
    public static long BytesOnThisThread => current?.Bytes ?? 0;

    /// <summary>A layer will ask for <paramref name="slots"/> column buffers of <paramref name="size"/> floats.</summary>
    public void ReserveColumns(int slots, int size) => Reserve(ref _columnNeeds, slots, size);

    /// <summary>A layer will ask for <paramref name="chunks"/> partial-gradient buffers of these sizes.</summary>
    public void ReservePartials(int chunks, long weightCount, int biasCount)
    {
        Reserve(ref _weightNeeds, chunks, weightCount);
        Reserve(ref _biasNeeds, chunks, biasCount);
    }

    /// <summary>At least <paramref name="slots"/> column buffers of at least <paramref name="size"/> floats each.</summary>
    public float[][] Columns(int slots, int size)
    {
        Grow(ref _columns, slots, size, _columnNeeds);
        return _columns;
    }

    /// <summary>At least <paramref name="chunks"/> weight-gradient and bias-gradient buffers of the given sizes.</summary>
    public (float[][] weights, float[][] biases) Partials(int chunks, long weightCount, int biasCount)
    {
        Grow(ref _weightPartials, chunks, weightCount, _weightNeeds);
        Grow(ref _biasPartials, chunks, biasCount, _biasNeeds);
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

    private static void Reserve(ref long[] needs, int count, long size)
    {
        if (needs.Length < count) Array.Resize(ref needs, count);
        for (int i = 0; i < count; i++) needs[i] = Math.Max(needs[i], size);
    }

    /// <summary>Buffers 0..count-1 of at least <paramref name="size"/> floats; one that is smaller is
    /// replaced by one of its announced size, when that is larger.</summary>
    private static void Grow(ref float[][] set, int count, long size, long[] needs)
    {
        if (set.Length < count)
        {
            int old = set.Length;
            Array.Resize(ref set, count);
            for (int i = old; i < count; i++) set[i] = [];
        }
        for (int i = 0; i < count; i++)
            if (set[i].Length < size) set[i] = new float[Math.Max(size, i < needs.Length ? needs[i] : 0)];
    }
}
