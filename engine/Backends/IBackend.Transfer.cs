namespace Engine.Backends;

public partial interface IBackend
{
    /// <summary>
    /// Starts copying <paramref name="source"/>[start, start + count) into <paramref name="destination"/>
    /// and returns at once; later operations on the stream see the values. The array must stay
    /// unchanged until the returned handle is disposed, which waits for the copy.
    /// </summary>
    IDisposable UploadAsync(float[] source, int start, int count, BufferView destination);
}
