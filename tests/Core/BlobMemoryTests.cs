using Engine.Backends;
using Engine.Core;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Core;

/// <summary>
/// BlobMemory's host/device synchronisation (Caffe's SyncedMemory states), on the CPU backend and
/// on the OpenCL device: values cross only when the other side reads them, and always arrive.
/// </summary>
[TestFixtureSource(typeof(DeviceLayerCheck), nameof(DeviceLayerCheck.BackendNames))]
public class BlobMemoryTests(string backendName)
{
    private IBackend B => DeviceLayerCheck.Backend(backendName);

    private static float[] Read(IBackend b, BufferView v)
    {
        var host = new float[v.Count];
        b.Download(v, host);
        return host;
    }

    [Test]
    public void HostValuesReachTheDeviceOnFirstReadAndTheHeadFollowsEachAccess()
    {
        var blob = new Blob("x", 2, 3);
        float[] values = [1, 2, 3, 4, 5, 6];
        values.CopyTo(blob.Data);
        Assert.That(blob.DataMemory.Head, Is.EqualTo(MemoryHead.AtHost));
        var view = blob.DataOn(B);
        Assert.That(blob.DataMemory.Head, Is.EqualTo(MemoryHead.Synced), "read on the device: both current");
        Assert.That(Read(B, view), Is.EqualTo(values));

        B.Fill(blob.MutableDataOn(B), 7f);
        Assert.That(blob.DataMemory.Head, Is.EqualTo(MemoryHead.AtDevice), "written on the device");
        Assert.That(blob.ConstData.ToArray(), Is.All.EqualTo(7f), "the host read brings the device values");
        Assert.That(blob.DataMemory.Head, Is.EqualTo(MemoryHead.Synced), "a read-only host access keeps the device current");
        blob.Data[0] = -1;
        Assert.That(blob.DataMemory.Head, Is.EqualTo(MemoryHead.AtHost), "a mutable host access makes the host the only current copy");
        Assert.That(Read(B, blob.DataOn(B))[0], Is.EqualTo(-1f), "and the next device read uploads it");
    }

    [Test]
    public void GrowingOnTheDeviceKeepsTheValues()
    {
        var blob = new Blob("x", 4);
        B.Fill(blob.MutableDataOn(B), 2f);
        blob.Reshape(3, 4);
        Assert.That(blob.ConstData[..4].ToArray(), Is.All.EqualTo(2f));
        B.Fill(blob.MutableDataOn(B), 5f);
        Assert.That(blob.ConstData.ToArray(), Has.Length.EqualTo(12).And.All.EqualTo(5f));
    }

    [Test]
    public void SharedMemoryIsSharedOnTheDeviceToo()
    {
        var a = new Blob("a", 5);
        var b = new Blob("b", 5);
        b.ShareData(a);
        B.Fill(a.MutableDataOn(B), 3f);
        Assert.That(b.ConstData.ToArray(), Is.All.EqualTo(3f));
    }

    [Test]
    public void ClearingAGradientThatLivesOnTheDeviceStaysThere()
    {
        var blob = new Blob("w", 6);
        B.Fill(blob.MutableDiffOn(B), 4f);
        blob.ClearDiff();
        Assert.That(blob.DiffMemory.Head, Is.EqualTo(MemoryHead.AtDevice), "cleared on the device, no transfer");
        Assert.That(blob.ConstDiff.ToArray(), Is.All.EqualTo(0f));
    }

    [Test]
    public void AnAsynchronousUploadArrivesAndTheHostWaitsForItBeforeWriting()
    {
        var blob = new Blob("data", 1000);
        for (int i = 0; i < 1000; i++) blob.Data[i] = i;
        blob.DataMemory.UploadAsync(B, 1000);
        Assert.That(blob.DataMemory.Head, Is.EqualTo(MemoryHead.Synced));
        // Writing the host array now must wait for the copy, or the device would see a mix.
        var host = blob.Data;
        host.Fill(-1);
        var device = Read(B, blob.DataOn(B));
        Assert.That(device, Is.All.EqualTo(-1f), "the host write made the host current; the device read uploaded it");
        blob.DataMemory.UploadAsync(B, 1000);
        blob.Data[3] = 9;
        Assert.That(Read(B, blob.DataOn(B))[3], Is.EqualTo(9f));
    }
}
