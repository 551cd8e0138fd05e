using System.Diagnostics;
using System.Runtime.InteropServices;
using Engine.Core;
using Engine.Graph;
using Engine.Proto;
using Engine.Text;
using Google.Protobuf;
using NUnit.Framework;

namespace Engine.Tests.IO;

/// <summary>
/// Model-zoo-sized .caffemodel files (AlexNet's 61M parameters are 244 MB) load without protobuf's
/// default 64 MB limit and without holding the weights more than about twice in memory.
/// </summary>
[TestFixture]
[NonParallelizable]
public class LargeWeightsFileTests
{
    private string _dir = "";

    [OneTimeSetUp]
    public void Quiet() => Log.Quiet = true;

    [SetUp]
    public void MakeDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "engine-bigweights-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir() => Directory.Delete(_dir, recursive: true);

    /// <summary>About 40 MB: always run.</summary>
    [Test]
    public void FortyMegabyteFileLoads() => LoadsWithinMemoryBound(outputs: 1000, inputs: 10_000);

    /// <summary>About 320 MB (80M floats), bigger than AlexNet's caffemodel; about 4 s and 1 GB of memory.</summary>
    [Test]
    [Category("Slow")]
    public void ThreeHundredMegabyteFileLoads() => LoadsWithinMemoryBound(outputs: 8000, inputs: 10_000);

    private void LoadsWithinMemoryBound(int outputs, int inputs)
    {
        var path = Path.Combine(_dir, "big.caffemodel");
        var timer = Stopwatch.StartNew();
        WriteStreaming(path, "ip", outputs, inputs);
        long fileSize = new FileInfo(path).Length;
        Assert.That(fileSize, Is.GreaterThan(4L * outputs * inputs));
        TestContext.Out.WriteLine($"wrote {fileSize / 1e6:F1} MB in {timer.Elapsed.TotalSeconds:F1} s");

        var net = new Net(ProtoText.Parse<NetParameter>($$"""
            layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: {{inputs}} } } }
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
              inner_product_param { num_output: {{outputs}} bias_term: false weight_filler { type: "constant" value: 0 } } }
            """), new NetState { Phase = Phase.Test }, quiet: true);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        long workingBefore = Process.GetCurrentProcess().WorkingSet64;
        timer.Restart();
        net.CopyTrainedLayersFrom(path);
        double seconds = timer.Elapsed.TotalSeconds;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        using var process = Process.GetCurrentProcess();
        long peakGrowth = process.PeakWorkingSet64 - workingBefore;
        TestContext.Out.WriteLine($"loaded in {seconds:F1} s; allocated {allocated / 1e6:F1} MB while loading, " +
                                  $"peak working set {peakGrowth / 1e6:F1} MB above the start; file {fileSize / 1e6:F1} MB");

        // The parsed message holds the floats once; nothing else of that size may be allocated
        // (a growing list, a byte[] of the whole file, a second copy).
        Assert.That(allocated, Is.LessThan((long)(2.5 * fileSize)), "bytes allocated while loading");
        Assert.That(allocated, Is.LessThan((long)(1.5 * fileSize)), "bytes allocated while loading: the weights should be held once");
        // The process's peak working set is reported above but not asserted: it is a lifetime
        // peak, which earlier tests in the same process (VGG-16's build) may already have raised.

        var w = net.Layer("ip").Blobs[0].Data;
        for (long i = 0; i < w.Length; i += 9973) Assert.That(w[(int)i], Is.EqualTo(Value(i)), $"weight {i}");
        Assert.That(w[^1], Is.EqualTo(Value(w.Length - 1)));
    }

    private static float Value(long i) => (i % 1000) * 0.001f - 0.5f;

    /// <summary>
    /// NetParameter { name; layer (100) { name; type; blobs (7) { shape (7); data (5, packed) } } }
    /// written by hand so the floats stream to disk and never exist as one managed array.
    /// </summary>
    private static void WriteStreaming(string path, string layerName, int rows, int cols)
    {
        long count = (long)rows * cols;
        long dataBytes = count * sizeof(float);
        var shape = new BlobShape { Dim = { rows, cols } }.ToByteArray();
        long blobLen = 1 + CodedOutputStream.ComputeLengthSize(shape.Length) + shape.Length
                     + 1 + CodedOutputStream.ComputeUInt64Size((ulong)dataBytes) + dataBytes;
        var head = new LayerParameter { Name = layerName, Type = "InnerProduct" }.ToByteArray();
        long layerLen = head.Length + 1 + CodedOutputStream.ComputeUInt64Size((ulong)blobLen) + blobLen;

        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        using (var o = new CodedOutputStream(file, leaveOpen: true))
        {
            o.WriteTag(NetParameter.NameFieldNumber, WireFormat.WireType.LengthDelimited);
            o.WriteString("big");
            o.WriteTag(NetParameter.LayerFieldNumber, WireFormat.WireType.LengthDelimited);
            o.WriteUInt64((ulong)layerLen);
            o.WriteRawMessage(new LayerParameter { Name = layerName, Type = "InnerProduct" });
            o.WriteTag(LayerParameter.BlobsFieldNumber, WireFormat.WireType.LengthDelimited);
            o.WriteUInt64((ulong)blobLen);
            o.WriteTag(BlobProto.ShapeFieldNumber, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(ByteString.CopyFrom(shape));
            o.WriteTag(BlobProto.DataFieldNumber, WireFormat.WireType.LengthDelimited);
            o.WriteUInt64((ulong)dataBytes);
            o.Flush();
        }
        var chunk = new float[1 << 16];
        for (long start = 0; start < count; start += chunk.Length)
        {
            int n = (int)Math.Min(chunk.Length, count - start);
            for (int i = 0; i < n; i++) chunk[i] = Value(start + i);
            file.Write(MemoryMarshal.AsBytes(chunk.AsSpan(0, n)));
        }
    }
}
