using System.Globalization;
using System.Text.RegularExpressions;

namespace Engine.Tools;

/// <summary>One curve: (iteration, value) points in log order.</summary>
public sealed class Series(string name)
{
    public string Name { get; } = name;
    public List<(int Iteration, double Value)> Points { get; } = [];
}

/// <summary>
/// The curves in a training log, ours or Caffe's (the same lines, after glog's
/// "I1122 00:47:01.123456  4242 solver.cpp:218] " prefix): training loss and learning rate per
/// display iteration, each train net output, and each test net output per testing pass.
/// </summary>
public sealed partial class TrainingLog
{
    private const string Num = @"([-+]?(?:nan|inf|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))";

    [GeneratedRegex(@"^Iteration (\d+)(?: \([^)]*\))?, loss = " + Num, RegexOptions.IgnoreCase)]
    private static partial Regex LossLine();

    [GeneratedRegex(@"^Iteration (\d+), lr = " + Num, RegexOptions.IgnoreCase)]
    private static partial Regex LrLine();

    [GeneratedRegex(@"^Iteration (\d+), Testing net \(#(\d+)\)")]
    private static partial Regex TestingLine();

    [GeneratedRegex(@"^(Test|Train) net output #(\d+): (\S+) = " + Num, RegexOptions.IgnoreCase)]
    private static partial Regex OutputLine();

    public Series Loss { get; } = new("loss");
    public Series LearningRate { get; } = new("lr");

    /// <summary>Test outputs, named "test #K NAME", in order of first appearance.</summary>
    public List<Series> TestOutputs { get; } = [];

    /// <summary>Train net outputs, named "train NAME", at the display iterations.</summary>
    public List<Series> TrainOutputs { get; } = [];

    /// <summary>Whether any iteration was seen at all.</summary>
    public bool IsEmpty => Loss.Points.Count == 0 && LearningRate.Points.Count == 0
        && TestOutputs.All(s => s.Points.Count == 0) && TrainOutputs.All(s => s.Points.Count == 0);

    public static TrainingLog ReadFile(string path)
    {
        if (!File.Exists(path)) throw new EngineException($"{path}: no such log file");
        using var reader = new StreamReader(path);
        return Parse(reader);
    }

    public static TrainingLog Parse(string text) => Parse(new StringReader(text));

    public static TrainingLog Parse(TextReader reader)
    {
        var log = new TrainingLog();
        int testIteration = -1, testNet = 0, trainIteration = -1;
        var byName = new Dictionary<string, Series>(StringComparer.Ordinal);
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            var body = StripPrefix(line);
            Match m;
            if ((m = LossLine().Match(body)).Success)
            {
                trainIteration = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                log.Loss.Points.Add((trainIteration, ParseNum(m.Groups[2].Value)));
            }
            else if ((m = LrLine().Match(body)).Success)
            {
                log.LearningRate.Points.Add((int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), ParseNum(m.Groups[2].Value)));
            }
            else if ((m = TestingLine().Match(body)).Success)
            {
                testIteration = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                testNet = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            }
            else if ((m = OutputLine().Match(body)).Success)
            {
                bool test = m.Groups[1].Value.Equals("Test", StringComparison.OrdinalIgnoreCase);
                int iteration = test ? testIteration : trainIteration;
                if (iteration < 0) continue;
                var name = test ? $"test #{testNet} {m.Groups[3].Value}" : $"train {m.Groups[3].Value}";
                if (!byName.TryGetValue(name, out var series))
                {
                    byName[name] = series = new Series(name);
                    (test ? log.TestOutputs : log.TrainOutputs).Add(series);
                }
                series.Points.Add((iteration, ParseNum(m.Groups[4].Value)));
            }
        }
        return log;
    }

    /// <summary>The message after a glog prefix ("I1122 00:47:01.123456  4242 file.cpp:123] ").</summary>
    private static string StripPrefix(string line)
    {
        var t = line.TrimStart();
        if (t.Length > 0 && "IWEF".Contains(t[0]) && t.Length > 1 && char.IsDigit(t[1]))
        {
            int close = t.IndexOf("] ", StringComparison.Ordinal);
            if (close >= 0) return t[(close + 2)..].TrimStart();
        }
        return t;
    }

    private static double ParseNum(string s) => s.ToLowerInvariant() switch
    {
        "nan" or "-nan" or "+nan" => double.NaN,
        "inf" or "+inf" => double.PositiveInfinity,
        "-inf" => double.NegativeInfinity,
        _ => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture),
    };
}
