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
}
