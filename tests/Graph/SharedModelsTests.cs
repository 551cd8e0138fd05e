using Engine.Core;
using Engine.Graph;
using Engine.Proto;
using Engine.Tests.Support;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Graph;

/// <summary>
/// The real Caffe nets in ../shared/models/caffe build unchanged when every layer type they use
/// exists, except their data sources: Data layers reading LMDB become Input layers of the shape
/// the LMDB would give.
/// </summary>
[TestFixture]
public class SharedModelsTests
{
    [OneTimeSetUp]
    public void Quiet() => Log.Quiet = true;

    // Per net file: the (data, label) shape its Data layers would produce for a phase.
    private static readonly Dictionary<string, int[]> ImageShape = new()
    {
        ["lenet_train_test.prototxt"] = [1, 28, 28],
        ["mnist_autoencoder.prototxt"] = [1, 28, 28],
        ["cifar10_quick_train_test.prototxt"] = [3, 32, 32],
        ["cifar10_full_train_test.prototxt"] = [3, 32, 32],
        ["train_val.prototxt"] = [3, 227, 227],
    };

    public static IEnumerable<string> NetFiles()
    {
        var root = TestData.SharedModels;
        if (root == null) yield break;
        foreach (var f in Directory.GetFiles(root, "*.prototxt", SearchOption.AllDirectories).Order())
            if (!Path.GetFileName(f).Contains("solver")) yield return Path.GetRelativePath(root, f);
    }

    [TestCaseSource(nameof(NetFiles))]
    public void BuildsWhenItsLayersExist(string relative)
    {
        var path = Path.Combine(TestData.SharedModels!, relative);
        var param = Engine.Text.NetFiles.ReadNet(path);
        var missing = param.Layer.Select(l => l.Type).Where(t => t != "Data" && !LayerRegistry.IsRegistered(t)).Distinct().ToList();
        if (missing.Count > 0) Assert.Ignore($"layer types not built yet: {string.Join(", ", missing)}");
        ReplaceDataLayers(param, Path.GetFileName(relative));
        // A net whose layers are chosen by stage (the autoencoder's test-on-train / test-on-test)
        // is built once per stage, as its solver's test_state does.
        var stages = param.Layer.SelectMany(l => l.Include.SelectMany(r => r.Stage)).Distinct().ToList();
        var states = new List<NetState> { new() { Phase = Phase.Train } };
        if (stages.Count == 0) states.Add(new NetState { Phase = Phase.Test });
        foreach (var stage in stages) states.Add(new NetState { Phase = Phase.Test, Stage = { stage } });
        foreach (var state in states)
        {
            var net = new Net(param, state, quiet: true, source: path);
            Assert.That(net.Layers, Is.Not.Empty);
            Assert.That(net.Outputs, Is.Not.Empty);
        }
    }

    private static void ReplaceDataLayers(NetParameter param, string file)
    {
        for (int i = 0; i < param.Layer.Count; i++)
        {
            var l = param.Layer[i];
            if (l.Type != "Data") continue;
            int batch = (int)l.DataParam.BatchSize;
            var image = ImageShape[file];
            int crop = (int)(l.TransformParam?.CropSize ?? 0);
            var input = new LayerParameter { Name = l.Name, Type = "Input", InputParam = new InputParameter() };
            input.Include.AddRange(l.Include);
            input.Exclude.AddRange(l.Exclude);
            input.Top.AddRange(l.Top);
            var data = new BlobShape { Dim = { batch, image[0], crop > 0 ? crop : image[1], crop > 0 ? crop : image[2] } };
            input.InputParam.Shape.Add(data);
            if (l.Top.Count > 1) input.InputParam.Shape.Add(new BlobShape { Dim = { batch } });
            param.Layer[i] = input;
        }
    }

    [Test]
    public void LeNetDeployHasCaffesShapes()
    {
        if (TestData.SharedModels == null) Assert.Ignore("../shared/models/caffe not found");
        var net = Net.FromFile(Path.Combine(TestData.SharedModels, "examples/mnist/lenet.prototxt"), Phase.Test, quiet: true);
        Assert.That(net.Blob("conv1").Shape, Is.EqualTo(new[] { 64, 20, 24, 24 }));
        Assert.That(net.Blob("pool1").Shape, Is.EqualTo(new[] { 64, 20, 12, 12 }));
        Assert.That(net.Blob("conv2").Shape, Is.EqualTo(new[] { 64, 50, 8, 8 }));
        Assert.That(net.Blob("pool2").Shape, Is.EqualTo(new[] { 64, 50, 4, 4 }));
        Assert.That(net.Blob("ip1").Shape, Is.EqualTo(new[] { 64, 500 }));
        Assert.That(net.Blob("prob").Shape, Is.EqualTo(new[] { 64, 10 }));
        // 20·25+20 + 50·500+50 + 500·800+500 + 10·500+10 parameters.
        Assert.That(net.LearnableParams.Sum(p => p.Blob.Count), Is.EqualTo(431080));
    }
}
