using Engine.Core;
using Engine.Layers;
using Engine.Proto;
using Engine.Tests.Support;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Layers.Data;

/// <summary>nets/lenet: Caffe's LeNet files, with Data layers reading Fashion-MNIST's IDX files.</summary>
[TestFixture]
public class LeNetDataFilesTests
{
    private static string Lenet(string file) => Path.Combine(TestData.RepoRoot, "nets", "lenet", file);

    [Test]
    public void TrainTestNetMatchesCaffesExceptForTheData()
    {
        var ours = NetFiles.ReadNet(Lenet("lenet_train_test.prototxt"));
        Assert.That(ours.Layer.Select(l => l.Name), Is.EqualTo(new[] { "mnist", "mnist", "conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "accuracy", "loss" }));
        var models = TestData.SharedModels;
        if (models != null)
        {
            var caffe = NetFiles.ReadNet(Path.Combine(models, "examples", "mnist", "lenet_train_test.prototxt"));
            Assert.That(ours.Layer.Count, Is.EqualTo(caffe.Layer.Count));
            for (int i = 0; i < ours.Layer.Count; i++)
            {
                var a = ours.Layer[i].Clone();
                var b = caffe.Layer[i].Clone();
                a.DataParam = null; b.DataParam = null;
                Assert.That(a, Is.EqualTo(b), $"layer {i} \"{a.Name}\" differs from Caffe's apart from data_param");
            }
        }

        var train = ours.Layer[0];
        var test = ours.Layer[1];
        Assert.That(train.Include.Single().Phase, Is.EqualTo(Phase.Train));
        Assert.That(test.Include.Single().Phase, Is.EqualTo(Phase.Test));
        Assert.That(train.DataParam.Backend, Is.EqualTo(DataParameter.Types.DB.Idx));
        Assert.That(train.DataParam.Source, Is.EqualTo("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"));
        Assert.That(train.DataParam.LabelSource, Is.EqualTo("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"));
        Assert.That(train.DataParam.BatchSize, Is.EqualTo(64));
        Assert.That(train.DataParam.Shuffle, Is.True);
        Assert.That(test.DataParam.Source, Is.EqualTo("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"));
        Assert.That(test.DataParam.LabelSource, Is.EqualTo("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"));
        Assert.That(test.DataParam.BatchSize, Is.EqualTo(100));
        Assert.That(test.DataParam.Shuffle, Is.False);
        Assert.That(train.TransformParam.Scale, Is.EqualTo(0.00390625f));
        Assert.That(test.TransformParam.Scale, Is.EqualTo(0.00390625f));
    }

    [Test]
    public void SolverHasCaffesSettings()
    {
        var s = NetFiles.ReadSolver(Lenet("lenet_solver.prototxt"));
        Assert.That(s.Net, Is.EqualTo("nets/lenet/lenet_train_test.prototxt"));
        Assert.That(File.Exists(Path.Combine(TestData.RepoRoot, s.Net)));
        Assert.That(s.TestIter, Is.EqualTo(new[] { 100 }));
        Assert.That(s.TestInterval, Is.EqualTo(500));
        Assert.That(s.BaseLr, Is.EqualTo(0.01f));
        Assert.That(s.Momentum, Is.EqualTo(0.9f));
        Assert.That(s.WeightDecay, Is.EqualTo(0.0005f));
        Assert.That(s.LrPolicy, Is.EqualTo("inv"));
        Assert.That(s.Gamma, Is.EqualTo(0.0001f));
        Assert.That(s.Power, Is.EqualTo(0.75f));
        Assert.That(s.Display, Is.EqualTo(100));
        Assert.That(s.MaxIter, Is.EqualTo(10000));
        Assert.That(s.Snapshot, Is.EqualTo(5000));
        Assert.That(s.SnapshotPrefix, Is.EqualTo("snapshots/lenet/lenet"));
        Assert.That(s.SolverMode, Is.EqualTo(SolverParameter.Types.SolverMode.Cpu));
    }

    [Test]
    public void DeployNetTakesCaffesInput()
    {
        var net = NetFiles.ReadNet(Lenet("lenet.prototxt"));
        var input = net.Layer[0];
        Assert.That(input.Type, Is.EqualTo("Input"));
        Assert.That(input.InputParam.Shape.Single().Dim, Is.EqualTo(new long[] { 64, 1, 28, 28 }));
        Assert.That(net.Layer[^1].Type, Is.EqualTo("Softmax"));
        Assert.That(net.Layer[^1].Top.Single(), Is.EqualTo("prob"));
        var models = TestData.SharedModels;
        if (models != null)
            Assert.That(net.Layer, Is.EqualTo(NetFiles.ReadNet(Path.Combine(models, "examples", "mnist", "lenet.prototxt")).Layer));
    }

    [TestCase(Phase.Train, 64, 60000)]
    [TestCase(Phase.Test, 100, 10000)]
    public void DataLayersReadFashionMnist(Phase phase, int batch, int records)
    {
        var net = NetFiles.ReadNet(Lenet("lenet_train_test.prototxt"));
        var p = net.Layer.Single(l => l.Type == "Data" && l.Include[0].Phase == phase).Clone();
        if (!File.Exists(p.DataParam.Source) || !File.Exists(p.DataParam.LabelSource))
            Assert.Ignore("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)");
        Log.Quiet = true;
        p.Phase = phase;
        var layer = (DataLayer)LayerRegistry.Create(p);
        var tops = new List<Blob> { new("data"), new("label") };
        layer.SetUp(new List<Blob>(), tops);
        Assert.That(layer.Records, Is.EqualTo(records));
        Assert.That(tops[0].Shape, Is.EqualTo(new[] { batch, 1, 28, 28 }));
        Assert.That(tops[1].Shape, Is.EqualTo(new[] { batch }));
        layer.Forward(new List<Blob>(), tops);
        Assert.That(tops[1].Data.ToArray(), Is.All.InRange(0f, 9f));
        Assert.That(tops[0].Data.ToArray(), Is.All.InRange(0f, 1f));
    }
}
