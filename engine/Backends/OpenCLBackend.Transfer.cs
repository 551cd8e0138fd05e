namespace Engine.Backends;

public sealed partial class OpenCLBackend
{
    /// <summary>
    /// How a data layer's batch goes to the device (<see cref="UploadAsync"/>): through the second,
    /// transfer queue and a staging buffer (true, the default), so it overlaps the kernels already
    /// enqueued; or a blocking write on the compute queue (false; ENGINE_OPENCL_UPLOAD=blocking), the
    /// synchronous path, for comparing and for drivers that misbehave with two queues.
    /// </summary>
    public bool OverlapUploads { get; set; } = Environment.GetEnvironmentVariable("ENGINE_OPENCL_UPLOAD") != "blocking";

    /// <summary>Starts the copy and returns at once (see <see cref="OverlapUploads"/>); the array stays
    /// pinned until the handle is disposed, which waits for the copy out of it.</summary>
    public IDisposable UploadAsync(float[] source, int start, int count, BufferView destination)
    {
        SameCount(count, destination.Count, nameof(UploadAsync));
        if (OverlapUploads) return Context.WriteStaged(Buf(destination), destination.Offset, source, start, count);
        Upload(source.AsSpan(start, count), destination);
        return Done.Instance;
    }

    private sealed class Done : IDisposable
    {
        public static readonly Done Instance = new();
        public void Dispose() { }
    }
}
