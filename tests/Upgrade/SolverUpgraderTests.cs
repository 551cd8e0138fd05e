using Engine.Proto;
using Engine.Tests.Text;
using Engine.Text;
using Engine.Upgrade;
using NUnit.Framework;

namespace Engine.Tests.Upgrade;

[TestFixture]
public class SolverUpgraderTests
{
    private static SolverParameter Upgrade(string text) =>
        SolverUpgrader.Upgrade(ProtoText.Parse<SolverParameter>(text), "solver.prototxt");

    [TestCase("SGD", "SGD")]
    [TestCase("NESTEROV", "Nesterov")]
    [TestCase("ADAGRAD", "AdaGrad")]
    [TestCase("RMSPROP", "RMSProp")]
    [TestCase("ADADELTA", "AdaDelta")]
    [TestCase("ADAM", "Adam")]
    public void SolverTypeBecomesType(string solverType, string type)
    {
        var s = Upgrade($"base_lr: 0.1 solver_type: {solverType}");
        Assert.That(s.Type, Is.EqualTo(type));
        Assert.That(s.HasType, Is.True);
        Assert.That(s.HasSolverType, Is.False);
        Assert.That(s.BaseLr, Is.EqualTo(0.1f));
    }

    [Test]
    public void EveryEnumValueIsCovered()
    {
        var values = SolverParameter.Descriptor.FindFieldByName("solver_type").EnumType.Values;
        Assert.That(values, Has.Count.EqualTo(6));
        foreach (var v in values)
            Assert.That(SolverUpgrader.TypeString((SolverParameter.Types.SolverType)v.Number), Is.Not.Empty);
    }

    [Test]
    public void BothGivenWithTheSameMeaningIsAccepted()
    {
        var s = Upgrade("solver_type: ADAM type: \"Adam\"");
        Assert.That(s.Type, Is.EqualTo("Adam"));
        Assert.That(s.HasSolverType, Is.False);
    }

    [Test]
    public void BothGivenWithDifferentMeaningsIsRefused()
    {
        var e = Assert.Throws<EngineException>(() => Upgrade("solver_type: NESTEROV\ntype: \"Adam\""))!;
        Assert.That(e.Message, Does.StartWith("solver.prototxt: "));
        Assert.That(e.Message, Does.Contain("NESTEROV").And.Contain("\"Adam\""));
    }

    [Test]
    public void TypeAloneIsKept()
    {
        var s = Upgrade("type: \"RMSProp\"");
        Assert.That(s.Type, Is.EqualTo("RMSProp"));
        Assert.That(SolverUpgrader.NeedsUpgrade(s), Is.False);
    }

    [Test]
    public void NothingSetStaysNothingSet()
    {
        var s = Upgrade("base_lr: 0.01");
        Assert.That(s.HasType, Is.False);
        Assert.That(s.Type, Is.EqualTo("SGD")); // the proto default
    }

    [Test]
    public void ArgumentIsLeftUnchanged()
    {
        var s = ProtoText.Parse<SolverParameter>("solver_type: ADAGRAD");
        SolverUpgrader.Upgrade(s, "x");
        Assert.That(s.HasSolverType, Is.True);
        Assert.That(s.HasType, Is.False);
    }

    [Test]
    public void InlineNetsAreUpgraded()
    {
        var s = Upgrade("""
            net_param { input: "data" input_dim: [1, 1, 2, 2] layers { name: "r" type: RELU bottom: "data" top: "r" } }
            train_net_param { layers { name: "t" type: TANH } }
            test_net_param { layers { name: "s" type: SIGMOID } }
            test_net_param { layer { name: "ok" type: "ReLU" } }
            """);
        Assert.That(s.NetParam.Layer.Select(l => l.Type), Is.EqualTo(new[] { "Input", "ReLU" }));
        Assert.That(s.NetParam.Layers, Is.Empty);
        Assert.That(s.TrainNetParam.Layer.Single().Type, Is.EqualTo("TanH"));
        Assert.That(s.TestNetParam[0].Layer.Single().Type, Is.EqualTo("Sigmoid"));
        Assert.That(s.TestNetParam[1].Layer.Single().Name, Is.EqualTo("ok"));
    }

    [Test]
    public void InlineNetErrorsNameTheSolverFile()
    {
        var e = Assert.Throws<EngineException>(() => Upgrade("test_net_param { } test_net_param { layer { name: \"a\" } layers { name: \"b\" } }"))!;
        Assert.That(e.Message, Does.StartWith("solver.prototxt (test_net_param #2): "));
    }

    [Test]
    public void SharedSolverFilesRead()
    {
        foreach (var f in SharedCaffeFiles.AllPrototxt().Where(SharedCaffeFiles.IsSolver))
        {
            var s = NetFiles.ReadSolver(SharedCaffeFiles.Get(f));
            Assert.That(s.HasBaseLr, Is.True, f);
            Assert.That(s.HasSolverType, Is.False, f);
        }
        var alex = NetFiles.ReadSolver(SharedCaffeFiles.Get("models/bvlc_alexnet/solver.prototxt"));
        Assert.That(alex.Net, Is.EqualTo("models/bvlc_alexnet/train_val.prototxt"));
        Assert.That(alex.TestIter, Is.EqualTo(new[] { 1000 }));
        Assert.That(alex.BaseLr, Is.EqualTo(0.01f));
        Assert.That(alex.LrPolicy, Is.EqualTo("step"));
        Assert.That(alex.Gamma, Is.EqualTo(0.1f));
        Assert.That(alex.Stepsize, Is.EqualTo(100000));
        Assert.That(alex.MaxIter, Is.EqualTo(450000));
        Assert.That(alex.Momentum, Is.EqualTo(0.9f));
        Assert.That(alex.WeightDecay, Is.EqualTo(0.0005f));
        Assert.That(alex.SolverMode, Is.EqualTo(SolverParameter.Types.SolverMode.Gpu));
    }

    [Test]
    public void ReadSolverOfAMissingFile()
    {
        var e = Assert.Throws<EngineException>(() => NetFiles.ReadSolver("/no/such/solver.prototxt"))!;
        Assert.That(e.Message, Is.EqualTo("/no/such/solver.prototxt: no such file"));
    }
}
