using Engine.Core;
using Engine.Graph;
using Engine.Proto;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers.Recurrent;

/// <summary>
/// LSTMUnit, LSTM and RNN: device code against host code (<see cref="DeviceLayerCheck"/>). The
/// sequence indicators restart some sequences; the second round of the check starts from the
/// state the first left (without expose_hidden), so the carried state is compared too.
/// </summary>
[TestFixtureSource(typeof(DeviceLayerCheck), nameof(DeviceLayerCheck.BackendNames))]
public class RecurrentDeviceTests(string backend)
{
    private const int T = 3, N = 2, H = 4;

    // ---- LSTMUnit --------------------------------------------------------------------------

    [TestCase(true, true)]
    [TestCase(true, false)]
    [TestCase(false, true)]
    public void LstmUnit(bool toCPrev, bool toGates)
    {
        const int n = 3, h = 5;
        DeviceLayerCheck.Compare(backend, new LayerParameter { Name = "unit", Type = "LSTMUnit" },
            [[1, n, h], [1, n, 4 * h], [1, n]],
            new()
            {
                Tops = 2,
                Range = (-2, 2),
                Input = (b, count) => b == 2 ? [1f, 0f, 0.5f] : null!,
                PropagateDown = [toCPrev, toGates, false],
            });
    }

    // ---- LSTM and RNN ----------------------------------------------------------------------

    private static LayerParameter Recurrent(string type, bool expose) => new()
    {
        Name = type.ToLowerInvariant(),
        Type = type,
        RecurrentParam = new RecurrentParameter
        {
            NumOutput = H,
            ExposeHidden = expose,
            WeightFiller = new FillerParameter { Type = "uniform", Min = -0.6f, Max = 0.6f },
            BiasFiller = new FillerParameter { Type = "uniform", Min = -0.3f, Max = 0.3f },
        },
    };

    /// <summary>Bottoms x (T×N×2×3), cont, [x_static (N×3)], [h0, c0]; cont 1 at the first step
    /// (the carried state is used) and a restart of item 1 at step 1.</summary>
    private void Check(string type, bool staticInput, bool expose, bool toX = true, bool toStatic = true, bool toStates = true)
    {
        int states = type == "LSTM" ? 2 : 1;
        var shapes = new List<int[]> { new[] { T, N, 2, 3 }, new[] { T, N } };
        var propagate = new List<bool> { toX, false };
        if (staticInput)
        {
            shapes.Add([N, 3]);
            propagate.Add(toStatic);
        }
        if (expose)
            for (int i = 0; i < states; i++)
            {
                shapes.Add([1, N, H]);
                propagate.Add(toStates);
            }
        DeviceLayerCheck.Compare(backend, Recurrent(type, expose), shapes.ToArray(),
            new()
            {
                Tops = 1 + (expose ? states : 0),
                Input = (b, count) => b == 1 ? [1f, 1f, 1f, 0f, 1f, 1f] : null!,
                PropagateDown = propagate.ToArray(),
            });
    }

    [TestCase("LSTM")]
    [TestCase("RNN")]
    public void Plain(string type) => Check(type, staticInput: false, expose: false);

    [TestCase("LSTM")]
    [TestCase("RNN")]
    public void StaticInput(string type) => Check(type, staticInput: true, expose: false);

    [TestCase("LSTM")]
    [TestCase("RNN")]
    public void ExposeHidden(string type) => Check(type, staticInput: false, expose: true);

    [TestCase("LSTM")]
    [TestCase("RNN")]
    public void StaticInputAndExposeHidden(string type) => Check(type, staticInput: true, expose: true);

    [TestCase("LSTM")]
    [TestCase("RNN")]
    public void OnlyParameterGradients(string type) =>
        Check(type, staticInput: true, expose: true, toX: false, toStatic: false, toStates: false);

    // ---- in a net --------------------------------------------------------------------------

    private const string StackedNet = """
        force_backward: true
        layer { name: "in" type: "Input" top: "x" top: "cont"
          input_param { shape { dim: 4 dim: 3 dim: 5 } shape { dim: 4 dim: 3 } } }
        layer { name: "lstm" type: "LSTM" bottom: "x" bottom: "cont" top: "h"
          recurrent_param { num_output: 6 weight_filler { type: "uniform" min: -0.5 max: 0.5 } bias_filler { type: "uniform" min: -0.2 max: 0.2 } } }
        layer { name: "bn" type: "BatchNorm" bottom: "h" top: "h" }
        layer { name: "scale" type: "Scale" bottom: "h" top: "h"
          scale_param { axis: 2 bias_term: true filler { type: "uniform" min: 0.5 max: 1.5 } bias_filler { type: "uniform" min: -0.5 max: 0.5 } } }
        layer { name: "rnn" type: "RNN" bottom: "h" bottom: "cont" top: "o"
          recurrent_param { num_output: 4 weight_filler { type: "uniform" min: -0.5 max: 0.5 } bias_filler { type: "uniform" min: -0.2 max: 0.2 } } }
        """;

    /// <summary>LSTM → BatchNorm → Scale → RNN as a net on the backend against the same net on the
    /// host, over two iterations (the recurrent state and the BatchNorm statistics carry over).</summary>
    [Test]
    public void StackedNetMatchesTheHost()
    {
        var device = DeviceLayerCheck.Backend(backend);
        Net Build() => new(Engine.Text.ProtoText.Parse<NetParameter>(StackedNet), new NetState { Phase = Phase.Train }, quiet: true);
        var host = Build();
        var dev = Build();
        for (int l = 0; l < host.Layers.Count; l++)
            for (int b = 0; b < host.Layers[l].Blobs.Count; b++) dev.Layers[l].Blobs[b].CopyFrom(host.Layers[l].Blobs[b]);
        dev.UseBackend(device);
        // (Input, and the Split of cont, belong to other groups.)
        Assert.That(dev.DevicePlacement().device.Select(l => l.Type), Is.SupersetOf(new[] { "LSTM", "BatchNorm", "Scale", "RNN" }));

        var rng = new Rng(5);
        for (int iteration = 0; iteration < 2; iteration++)
        {
            var x = DeviceLayerCheck.Uniform(rng, 4 * 3 * 5);
            float[] cont = [iteration, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1];
            foreach (var net in new[] { host, dev })
            {
                x.CopyTo(net.Blob("x").Data);
                cont.CopyTo(net.Blob("cont").Data);
                net.Forward();
            }
            DeviceLayerCheck.AssertClose(dev.Blob("o").ConstData, host.Blob("o").ConstData, 1e-4f, $"iteration {iteration}: o");
            var dy = DeviceLayerCheck.Uniform(rng, 4 * 3 * 4);
            foreach (var net in new[] { host, dev })
            {
                foreach (var layer in net.Layers)
                    foreach (var blob in layer.Blobs) blob.ClearDiff();
                dy.CopyTo(net.Blob("o").Diff);
                net.Backward();
            }
            DeviceLayerCheck.AssertClose(dev.Blob("x").ConstDiff, host.Blob("x").ConstDiff, 1e-4f, $"iteration {iteration}: x gradient");
            for (int l = 0; l < host.Layers.Count; l++)
                for (int b = 0; b < host.Layers[l].Blobs.Count; b++)
                {
                    string what = $"iteration {iteration}: {host.Layers[l].Name} blob {b}";
                    DeviceLayerCheck.AssertClose(dev.Layers[l].Blobs[b].ConstData, host.Layers[l].Blobs[b].ConstData, 1e-4f, what + " data");
                    DeviceLayerCheck.AssertClose(dev.Layers[l].Blobs[b].ConstDiff, host.Layers[l].Blobs[b].ConstDiff, 1e-4f, what + " gradient");
                }
        }
        dev.UseBackend(null);
    }
}
