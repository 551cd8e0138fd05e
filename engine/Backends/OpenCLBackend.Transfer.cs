namespace Engine.Backends;

public sealed partial class OpenCLBackend
{
    /// <summary>A non-blocking clEnqueueWriteBuffer; the array stays pinned until the handle is disposed.</summary>
    public IDisposable UploadAsync(float[] source, int start, int count, BufferView destination)
    {
        SameCount(count, destination.Count, nameof(UploadAsync));
        return Context.WriteAsync(Buf(destination), destination.Offset, source, start, count);
    }
}
