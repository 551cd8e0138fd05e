namespace Engine.Backends;

public sealed partial class OpenCLBackend
{
    public void AddSlices(int count, int length, BufferView slices, BufferView destination)
    {
        SameCount(length, destination.Count, nameof(AddSlices));
        if ((long)count * length > slices.Count) throw new ArgumentException($"AddSlices: {count} slices of {length} exceed a view of {slices.Count}");
        if (count == 0) return;
        Launch1D(Program("batched").Kernel("add_slices"), length, count, length, Buf(slices), slices.Offset, Buf(destination), destination.Offset);
    }
}
