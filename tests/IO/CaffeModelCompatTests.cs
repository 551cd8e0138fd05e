using System.Buffers.Binary;
using Engine.Core;
using Engine.Graph;
using Engine.IO;
using Engine.Proto;
using Engine.Solvers;
using Engine.Text;
using Google.Protobuf;
using NUnit.Framework;

namespace Engine.Tests.IO;

/// <summary>
/// .caffemodel and .solverstate files as Caffe writes and reads them: field numbers on the wire
/// (checked with a decoder that knows nothing of our generated code), legacy V1 models with
/// num/channels/height/width blobs, double data, unpacked floats, BatchNorm's three blobs.
/// </summary>
[TestFixture]
[NonParallelizable]
public class CaffeModelCompatTests
{
    private string _dir = "";

    [OneTimeSetUp]
    public void Quiet() => Log.Quiet = true;

    [SetUp]
    public void MakeDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "engine-compat-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir() => Directory.Delete(_dir, recursive: true);

    // ------------------------------------------------------------------ a wire decoder of our own

    private sealed record Field(int Number, int Wire, ulong Varint, byte[] Bytes);

    /// <summary>Splits a message into its fields: varint tags to field numbers and wire types.</summary>
    private static List<Field> Decode(ReadOnlySpan<byte> b)
    {
        var fields = new List<Field>();
        int pos = 0;
        while (pos < b.Length)
        {
            ulong tag = Varint(b, ref pos);
            int number = (int)(tag >> 3), wire = (int)(tag & 7);
            switch (wire)
            {
                case 0: fields.Add(new(number, wire, Varint(b, ref pos), [])); break;
                case 1: fields.Add(new(number, wire, 0, b.Slice(pos, 8).ToArray())); pos += 8; break;
                case 5: fields.Add(new(number, wire, 0, b.Slice(pos, 4).ToArray())); pos += 4; break;
                case 2:
                    int len = checked((int)Varint(b, ref pos));
                    fields.Add(new(number, wire, 0, b.Slice(pos, len).ToArray()));
                    pos += len;
                    break;
                default: throw new AssertionException($"wire type {wire} at byte {pos}");
            }
        }
        Assert.That(pos, Is.EqualTo(b.Length), "message ends on a field boundary");
        return fields;
    }

    private static ulong Varint(ReadOnlySpan<byte> b, ref int pos)
    {
        ulong v = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte x = b[pos++];
            v |= (ulong)(x & 0x7F) << shift;
            if ((x & 0x80) == 0) return v;
        }
    }

    private static List<long> PackedVarints(byte[] bytes)
    {
        var list = new List<long>();
        int pos = 0;
        while (pos < bytes.Length) list.Add((long)Varint(bytes, ref pos));
        return list;
    }

    private static float[] PackedFloats(byte[] bytes)
    {
        var values = new float[bytes.Length / 4];
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i));
        return values;
    }

    private static string Text(Field f) => System.Text.Encoding.UTF8.GetString(f.Bytes);

    private static Field Single(List<Field> fields, int number, int wire)
    {
        var found = fields.Where(f => f.Number == number).ToList();
        Assert.That(found, Has.Count.EqualTo(1), $"field {number}");
        Assert.That(found[0].Wire, Is.EqualTo(wire), $"wire type of field {number}");
        return found[0];
    }

    // ------------------------------------------------------------------ what the engine writes

    [Test]
    public void EngineSnapshotsUseCaffesFieldNumbers()
    {
        var solverParam = ProtoText.Parse<SolverParameter>($$"""
            net_param {
              name: "wire"
              layer { name: "data" type: "DummyData" top: "data" top: "label"
                dummy_data_param { shape { dim: 4 dim: 3 } shape { dim: 4 }
                  data_filler { type: "uniform" min: -1 max: 1 } data_filler { type: "constant" value: 1 } } }
              layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
                inner_product_param { num_output: 2 weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.5 } } }
              layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
            }
            base_lr: 0.1 momentum: 0.9 lr_policy: "multistep" gamma: 0.5 stepvalue: 1 stepvalue: 2 max_iter: 3
            snapshot_prefix: "{{Path.Combine(_dir, "wire")}}" random_seed: 1
            """);
        var solver = SolverFactory.Create(solverParam, quiet: true);
        solver.Step(3);
        var (model, state) = solver.Snapshot();

        // .caffemodel: NetParameter.layer = 100; LayerParameter name 1, type 2, blobs 7.
        var net = Decode(File.ReadAllBytes(model));
        Assert.That(net.Where(f => f.Number == 2), Is.Empty, "no V1 layers");
        var layers = net.Where(f => f.Number == 100).ToList();
        Assert.That(layers, Has.Count.EqualTo(solver.TrainNet.Layers.Count));
        Assert.That(layers.All(l => l.Wire == 2));
        var ip = layers.Select(l => Decode(l.Bytes)).Single(l => Text(Single(l, 1, 2)) == "ip");
        Assert.That(Text(Single(ip, 2, 2)), Is.EqualTo("InnerProduct"));
        var blobs = ip.Where(f => f.Number == 7).ToList();
        Assert.That(blobs, Has.Count.EqualTo(2));
        var expected = solver.TrainNet.Layer("ip").Blobs;
        for (int i = 0; i < 2; i++)
        {
            Assert.That(blobs[i].Wire, Is.EqualTo(2));
            var blob = Decode(blobs[i].Bytes);
            // BlobProto shape 7 → BlobShape dim 1 (packed int64); data 5 (packed float).
            var shape = Decode(Single(blob, 7, 2).Bytes);
            Assert.That(PackedVarints(Single(shape, 1, 2).Bytes), Is.EqualTo(expected[i].Shape.Select(d => (long)d)));
            Assert.That(PackedFloats(Single(blob, 5, 2).Bytes), Is.EqualTo(expected[i].Data.ToArray()));
            Assert.That(blob.Where(f => f.Number is >= 1 and <= 4), Is.Empty, "no legacy dims in new files");
        }

        // .solverstate: iter 1, learned_net 2, history 3 (BlobProtos), current_step 4.
        var s = Decode(File.ReadAllBytes(state));
        Assert.That(Single(s, 1, 0).Varint, Is.EqualTo(3UL));
        Assert.That(Text(Single(s, 2, 2)), Is.EqualTo(model));
        var currentStep = Single(s, 4, 0).Varint;
        Assert.That(currentStep, Is.GreaterThan(0UL), "multistep has passed its step values");
        var history = s.Where(f => f.Number == 3).ToList();
        Assert.That(history, Has.Count.EqualTo(solver.TrainNet.LearnableParams.Count));
        Assert.That(history.All(h => h.Wire == 2));
        var h0 = Decode(history[0].Bytes);
        Assert.That(PackedVarints(Single(Decode(Single(h0, 7, 2).Bytes), 1, 2).Bytes), Is.EqualTo(new long[] { 2, 3 }));
        Assert.That(PackedFloats(Single(h0, 5, 2).Bytes), Has.Length.EqualTo(6));
        Assert.That(s.Where(f => f.Number is > 4 and < 1000), Is.Empty, "our extensions stay at 1000 and above");

        // And the engine reads its own files back.
        var read = WeightsFile.ReadSolverState(state);
        Assert.That(read.Iter, Is.EqualTo(3));
        Assert.That(read.CurrentStep, Is.EqualTo((int)currentStep));
        Assert.That(read.History[0].Data, Is.EqualTo(PackedFloats(Single(h0, 5, 2).Bytes)));
        Assert.That(read.LayerState, Has.Count.GreaterThan(0));
    }

    // ------------------------------------------------------------------ hand-written Caffe files

    /// <summary>Protobuf wire encoding by hand, as an old Caffe wrote it.</summary>
    private sealed class Wire
    {
        private readonly MemoryStream _s = new();

        public byte[] Bytes => _s.ToArray();

        private void Tag(int field, int wire) => Raw((ulong)(field << 3 | wire));

        private void Raw(ulong v)
        {
            while (v >= 0x80) { _s.WriteByte((byte)(v | 0x80)); v >>= 7; }
            _s.WriteByte((byte)v);
        }

        public Wire Int(int field, long v) { Tag(field, 0); Raw((ulong)v); return this; }

        public Wire Bytes_(int field, byte[] b) { Tag(field, 2); Raw((ulong)b.Length); _s.Write(b); return this; }

        public Wire Str(int field, string s) => Bytes_(field, System.Text.Encoding.UTF8.GetBytes(s));

        public Wire Msg(int field, Wire m) => Bytes_(field, m.Bytes);

        public Wire PackedFloats(int field, float[] values)
        {
            var b = new byte[4 * values.Length];
            for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), values[i]);
            return Bytes_(field, b);
        }

        public Wire UnpackedFloats(int field, float[] values)
        {
            Span<byte> b = stackalloc byte[4];
            foreach (var v in values) { Tag(field, 5); BinaryPrimitives.WriteSingleLittleEndian(b, v); _s.Write(b); }
            return this;
        }

        public Wire PackedVarints(int field, params long[] values)
        {
            var inner = new Wire();
            foreach (var v in values) inner.Raw((ulong)v);
            return Bytes_(field, inner.Bytes);
        }

        public Wire PackedDoubles(int field, double[] values)
        {
            var b = new byte[8 * values.Length];
            for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(8 * i), values[i]);
            return Bytes_(field, b);
        }
    }

    private static Wire LegacyBlob(int num, int channels, int height, int width) =>
        new Wire().Int(1, num).Int(2, channels).Int(3, height).Int(4, width);

    private static float[] Ramp(int n, float scale) => Enumerable.Range(0, n).Select(i => (i - n / 2) * scale).ToArray();

    private static Net DeployIp(int inputs, int outputs, int batch = 2) => new(ProtoText.Parse<NetParameter>($$"""
        name: "deploy"
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: {{batch}} dim: {{inputs}} } } }
        layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: {{outputs}} } }
        layer { name: "relu" type: "ReLU" bottom: "ip" top: "ip" }
        """), new NetState { Phase = Phase.Test }, quiet: true);

    [Test]
    public void LegacyV1ModelWithFourDimBlobsLoads()
    {
        const int K = 5, M = 3;
        var weights = Ramp(M * K, 0.1f);
        var bias = new[] { 0.5, -0.25, 1.0 };
        // NetParameter.layers (2) → V1LayerParameter: name 4, type 5 (INNER_PRODUCT = 14), blobs 6;
        // weights as 1×1×M×K float data (packed), bias as 1×1×1×M double_data (8).
        var ipLayer = new Wire().Str(4, "ip").Int(5, 14)
            .Msg(6, LegacyBlob(1, 1, M, K).PackedFloats(5, weights))
            .Msg(6, LegacyBlob(1, 1, 1, M).PackedDoubles(8, bias))
            .Str(2, "data").Str(3, "ip");
        var reluLayer = new Wire().Str(4, "relu").Int(5, 18).Str(2, "ip").Str(3, "ip");
        var file = Path.Combine(_dir, "legacy.caffemodel");
        File.WriteAllBytes(file, new Wire().Str(1, "old").Msg(2, ipLayer).Msg(2, reluLayer).Bytes);

        var read = WeightsFile.ReadNet(file);
        Assert.That(read.Layers, Is.Empty, "V1 layers upgraded");
        Assert.That(read.Layer.Select(l => l.Type), Is.EqualTo(new[] { "InnerProduct", "ReLU" }));
        Assert.That(read.Layer[0].Blobs, Has.Count.EqualTo(2), "the upgrader keeps the blobs");

        var net = DeployIp(K, M);
        net.CopyTrainedLayersFrom(file);
        var w = net.Layer("ip").Blobs[0];
        Assert.That(w.Shape, Is.EqualTo(new[] { M, K }), "a 1×1×M×K legacy blob loads into an M×K weight");
        Assert.That(w.Data.ToArray(), Is.EqualTo(weights));
        Assert.That(net.Layer("ip").Blobs[1].Data.ToArray(), Is.EqualTo(bias.Select(v => (float)v)));

        var x = Ramp(2 * K, 0.3f);
        var y = net.Forward(new Dictionary<string, (int[], float[])> { ["data"] = ([2, K], x) })["ip"].data;
        for (int n = 0; n < 2; n++)
            for (int m = 0; m < M; m++)
            {
                double s = bias[m];
                for (int k = 0; k < K; k++) s += weights[m * K + k] * x[n * K + k];
                Assert.That(y[n * M + m], Is.EqualTo(Math.Max(0, s)).Within(1e-5), $"output {n},{m}");
            }
    }

    [Test]
    public void CurrentFormatWithLegacyDimsAndUnpackedFloatsLoads()
    {
        const int K = 4, M = 2;
        var weights = Ramp(M * K, 0.25f);
        var bias = new[] { 1f, -1f };
        var ip = new Wire().Str(1, "ip").Str(2, "InnerProduct")
            .Msg(7, LegacyBlob(1, 1, M, K).UnpackedFloats(5, weights))
            .Msg(7, new Wire().Msg(7, new Wire().PackedVarints(1, M)).PackedFloats(5, bias));
        var file = Path.Combine(_dir, "mixed.caffemodel");
        File.WriteAllBytes(file, new Wire().Msg(100, ip).Bytes);
        var net = DeployIp(K, M);
        net.CopyTrainedLayersFrom(file);
        Assert.That(net.Layer("ip").Blobs[0].Data.ToArray(), Is.EqualTo(weights));
        Assert.That(net.Layer("ip").Blobs[1].Data.ToArray(), Is.EqualTo(bias));
    }

    [Test]
    public void ShapeMismatchNamesLayerAndBothShapes()
    {
        var file = Path.Combine(_dir, "other.caffemodel");
        WeightsFile.WriteAtomic(file, DeployIp(6, 3).ToProto());
        var e = Assert.Throws<EngineException>(() => DeployIp(5, 3).CopyTrainedLayersFrom(file))!;
        Assert.That(e.Message, Does.Contain("\"ip\"").And.Contain("(3 6)").And.Contain("3 5 (15)").And.Contain(file));
    }

    [Test]
    public void LayersAbsentFromTheFileKeepTheirFillers()
    {
        const string Proto = """
            layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 4 } } }
            layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
              inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "uniform" } } }
            layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
              inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "uniform" } } }
            """;
        Net Build(ulong seed) => new(ProtoText.Parse<NetParameter>(Proto), new NetState { Phase = Phase.Test }, seed, quiet: true);
        var trained = Build(99).ToProto();
        var ip1 = trained.Layer.Single(l => l.Name == "ip1");
        trained.Layer.Clear();
        trained.Layer.Add(ip1);   // the file holds ip1 only
        var file = Path.Combine(_dir, "partial.caffemodel");
        WeightsFile.WriteAtomic(file, trained);

        var net = Build(1701);
        var fresh = Build(1701);
        net.CopyTrainedLayersFrom(file);
        for (int i = 0; i < 2; i++)
        {
            Assert.That(net.Layer("ip1").Blobs[i].Data.ToArray(), Is.EqualTo(ip1.Blobs[i].Data.ToArray()), $"ip1 blob {i} from the file");
            Assert.That(net.Layer("ip2").Blobs[i].Data.ToArray(), Is.EqualTo(fresh.Layer("ip2").Blobs[i].Data.ToArray()), $"ip2 blob {i} keeps its filler");
        }
        Assert.That(net.Layer("ip1").Blobs[0].Data.ToArray(), Is.Not.EqualTo(fresh.Layer("ip1").Blobs[0].Data.ToArray()));
    }

    [Test]
    public void BatchNormKeepsItsThreeBlobs()
    {
        // BatchNorm (2015, after BlobShape): mean (C), variance (C), moving-average factor (1).
        static Wire Shaped(long dim, float[] data) => new Wire().Msg(7, new Wire().PackedVarints(1, dim)).PackedFloats(5, data);
        var bn = new Wire().Str(1, "bn").Str(2, "BatchNorm").Str(3, "conv").Str(4, "conv")
            .Msg(7, Shaped(3, [0.2f, 0.4f, 0.6f]))
            .Msg(7, Shaped(3, [2f, 4f, 6f]))
            .Msg(7, Shaped(1, [2f]));
        var file = Path.Combine(_dir, "bn.caffemodel");
        File.WriteAllBytes(file, new Wire().Msg(100, bn).Bytes);
        var layer = WeightsFile.ReadNet(file).Layer.Single();
        Assert.That(layer.Blobs, Has.Count.EqualTo(3));
        Assert.That(layer.Blobs.Select(Blob.ShapeOf), Is.EqualTo(new[] { new[] { 3 }, [3], [1] }));
        Assert.That(layer.Blobs[0].Data, Is.EqualTo(new[] { 0.2f, 0.4f, 0.6f }));
        Assert.That(layer.Blobs[1].Data, Is.EqualTo(new[] { 2f, 4f, 6f }));
        Assert.That(layer.Blobs[2].Data.Single(), Is.EqualTo(2f));

        // Into a net: the TEST phase normalizes with the stored statistics divided by the factor.
        var net = new Net(ProtoText.Parse<NetParameter>("""
            layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 1 dim: 2 } } }
            layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" }
            """), new NetState { Phase = Phase.Test }, quiet: true);
        net.CopyTrainedLayersFrom(file);
        Assert.That(net.Layer("bn").Blobs.Select(b => b.Data.ToArray()), Is.EqualTo(new[] { new[] { 0.2f, 0.4f, 0.6f }, [2f, 4f, 6f], [2f] }));
        var y = net.Forward(new Dictionary<string, (int[], float[])> { ["data"] = ([1, 3, 1, 2], [1, 1, 1, 1, 1, 1]) })["bn"].data;
        for (int c = 0; c < 3; c++)
            Assert.That(y[2 * c], Is.EqualTo((1 - 0.1 * (c + 1)) / Math.Sqrt(c + 1 + 1e-5)).Within(1e-5), $"channel {c}");
    }

    [Test]
    public void BatchNormParamSpecsAreZeroedOnRead()
    {
        var p = new NetParameter();
        var bn = new LayerParameter { Name = "bn", Type = "BatchNorm" };
        for (int i = 0; i < 3; i++) bn.Param.Add(new ParamSpec { LrMult = 1, DecayMult = 1 });
        for (int i = 0; i < 3; i++) bn.Blobs.Add(new BlobProto { Shape = new BlobShape { Dim = { i < 2 ? 4 : 1 } }, Data = { Enumerable.Repeat(i + 1f, i < 2 ? 4 : 1) } });
        p.Layer.Add(bn);
        var file = Path.Combine(_dir, "bn2.caffemodel");
        WeightsFile.WriteAtomic(file, p);
        var read = WeightsFile.ReadNet(file).Layer.Single();
        Assert.That(read.Param.Select(s => (s.LrMult, s.DecayMult)), Is.All.EqualTo((0f, 0f)));
        Assert.That(read.Blobs.Select(x => x.Data.Count), Is.EqualTo(new[] { 4, 4, 1 }));
    }

    [Test]
    public void TruncatedFileIsOneClearError()
    {
        var file = Path.Combine(_dir, "t.caffemodel");
        WeightsFile.WriteAtomic(file, DeployIp(6, 3).ToProto());
        var bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes[..(bytes.Length - 7)]);
        var e = Assert.Throws<EngineException>(() => WeightsFile.ReadNet(file))!;
        Assert.That(e.Message, Does.StartWith($"{file}: not a valid NetParameter file"));
    }

    [Test]
    public void ReadsWhatTheGeneratedParserReads()
    {
        // Every field the engine writes survives our streaming reader unchanged.
        var net = DeployIp(6, 3).ToProto(writeDiff: true);
        net.Layer[1].Blobs[0].DoubleData.Add(Enumerable.Range(0, 18).Select(i => i * 0.5));
        net.Input.Add("extra");
        net.InputDim.AddRange([1, 6, 1, 1]);
        var file = Path.Combine(_dir, "roundtrip.caffemodel");
        WeightsFile.WriteAtomic(file, net);
        var viaParser = NetParameter.Parser.ParseFrom(File.ReadAllBytes(file));
        var viaReader = new BlobStreamReader(file);
        using (viaReader) Assert.That(viaReader.ReadNet(), Is.EqualTo(viaParser));
        var blob = new BlobProto { Shape = new BlobShape { Dim = { 2, 2 } }, Data = { 1, 2, 3, 4 }, Diff = { 5, 6, 7, 8 } };
        var bfile = Path.Combine(_dir, "mean.binaryproto");
        WeightsFile.WriteAtomic(bfile, blob);
        Assert.That(WeightsFile.ReadBlob(bfile), Is.EqualTo(blob));
    }
}
