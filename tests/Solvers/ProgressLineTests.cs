using Engine.Core;
using Engine.Proto;
using Engine.Solvers;
using Engine.Text;
using NUnit.Framework;

namespace Engine.Tests.Solvers;

[TestFixture]
public class ProgressLineTests
{
    [TestCase(0.0, "0s")]
    [TestCase(6.2, "7s")]
    [TestCase(59.0, "59s")]
    [TestCase(60.0, "1m00s")]
    [TestCase(185.0, "3m05s")]
    [TestCase(7260.0, "2h01m")]
    [TestCase(273600.0, "3d04h")]
    [TestCase(double.PositiveInfinity, "--")]
    [TestCase(double.NaN, "--")]
    [TestCase(-1.0, "--")]
    public void EtaText(double seconds, string expected) => Assert.That(ProgressLine.FormatEta(seconds), Is.EqualTo(expected));

    [Test]
    public void LineText()
    {
        Assert.That(ProgressLine.Format(120, 1000, 0.43125f, 0.01f, 35.24),
            Is.EqualTo("iter 120/1000 (12%)  loss 0.4313  lr 0.01  35.2 it/s  ETA 25s"));
        Assert.That(ProgressLine.Format(0, 10, 2.5f, 0.1f, 0), Is.EqualTo("iter 0/10 (0%)  loss 2.5  lr 0.1  0.0 it/s  ETA --"));
        Assert.That(ProgressLine.Format(500, 1000, 1f, 1e-3f, 250), Is.EqualTo("iter 500/1000 (50%)  loss 1  lr 0.001  250 it/s  ETA 2s"));
    }

    [Test]
    public void DrawsOnlyOnATerminalOutsideCi()
    {
        Assert.That(ProgressLine.ShouldDraw(outputRedirected: false, ciVariable: null), Is.True);
        Assert.That(ProgressLine.ShouldDraw(outputRedirected: true, ciVariable: null), Is.False);
        Assert.That(ProgressLine.ShouldDraw(outputRedirected: false, ciVariable: "true"), Is.False);
        Assert.That(ProgressLine.ShouldDraw(outputRedirected: false, ciVariable: ""), Is.False);
    }

    [Test]
    public void RedrawsInPlaceAndClears()
    {
        var w = new StringWriter();
        var line = new ProgressLine(0, w);
        line.Update(10, 10, 1f, 0.1f);
        string s = w.ToString();
        Assert.That(s, Does.StartWith("\riter 10/10 (100%)  loss 1  lr 0.1  "));
        Assert.That(s, Does.EndWith("\x1b[K"));
        Assert.That(s, Does.Not.Contain("\n"));
        line.Dispose();
        Assert.That(w.ToString(), Does.EndWith("\r\x1b[K"));
        var silent = new ProgressLine(0, null);
        silent.Update(1, 2, 1f, 1f);
        Assert.That(silent.Enabled, Is.False);
    }

    [Test]
    public void SolverPrintsNoProgressWhenOutputIsRedirected()
    {
        Assert.That(Console.IsOutputRedirected || Console.IsErrorRedirected || Environment.GetEnvironmentVariable("CI") != null,
            Is.True, "the test runner redirects the console");
        var net = """
            layer { name: "data" type: "DummyData" top: "data" top: "label"
              dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 2 }
                data_filler { type: "uniform" min: -1 max: 1 } data_filler { type: "constant" value: 1 } } }
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 2 } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
            """;
        var param = new SolverParameter
        {
            NetParam = ProtoText.Parse<NetParameter>(net),
            BaseLr = 0.1f,
            LrPolicy = "fixed",
            MaxIter = 5,
            Display = 1,
            RandomSeed = 1,
            SolverMode = SolverParameter.Types.SolverMode.Cpu,
        };
        var err = new StringWriter();
        var oldErr = Console.Error;
        var log = new StringWriter();
        Console.SetError(err);
        Log.Writer = log;
        Log.Quiet = false;
        try
        {
            var solver = SolverFactory.Create(param, quiet: false);
            solver.Step(5);
        }
        finally
        {
            Console.SetError(oldErr);
            Log.Writer = Console.Out;
            Log.Quiet = true;
        }
        Assert.That(err.ToString(), Is.Empty);
        Assert.That(log.ToString(), Does.Not.Contain("\r"));
        Assert.That(log.ToString(), Does.Contain("Iteration 4, lr = 0.1"));
    }
}
