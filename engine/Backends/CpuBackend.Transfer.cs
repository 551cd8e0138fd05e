namespace Engine.Backends;

public sealed partial class CpuBackend
{
    /// <summary>Copies at once (the CPU has no stream to overlap with); the handle has nothing to wait for.</summary>
    public IDisposable UploadAsync(float[] source, int start, int count, BufferView destination)
    {
        Upload(source.AsSpan(start, count), destination);
        return Done.Instance;
    }

    private sealed class Done : IDisposable
    {
        public static readonly Done Instance = new();
        public void Dispose() { }
    }
}
