namespace Engine.Cli;

/// <summary>
/// Command-line flags in both our spelling and Caffe's: `--solver S`, `--solver=S`, `-solver S`,
/// `-solver=S`; `--sigint-effect` and `-sigint_effect` name the same flag. Booleans take no value.
/// </summary>
public sealed class Args
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _lists = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = [];

    /// <summary>A flag; a <paramref name="Repeatable"/> one may be given several times (read with <see cref="GetAll"/>).</summary>
    public sealed record Flag(string Name, string Help, bool IsBool = false, string? Default = null, bool Repeatable = false);

    public Args(string command, IReadOnlyList<Flag> flags, string[] argv)
    {
        Command = command;
        var known = flags.ToDictionary(f => f.Name);
        for (int i = 0; i < argv.Length; i++)
        {
            var a = argv[i];
            if (!a.StartsWith('-') || a == "-")
                throw new EngineException($"engine {command}: unexpected argument \"{a}\"; see `engine {command} --help`");
            var body = a.TrimStart('-');
            string? value = null;
            int eq = body.IndexOf('=');
            if (eq >= 0) { value = body[(eq + 1)..]; body = body[..eq]; }
            var name = body.Replace('_', '-');
            if (name is "help" or "h") { Help = true; continue; }
            if (!known.TryGetValue(name, out var flag))
                throw new EngineException($"engine {command}: unknown flag \"{a}\"{Suggest(name, known.Keys)}; see `engine {command} --help`");
            if (flag.IsBool)
            {
                value ??= "true";
            }
            else if (value == null)
            {
                if (i + 1 >= argv.Length) throw new EngineException($"engine {command}: flag --{name} needs a value");
                value = argv[++i];
            }
            _values[name] = value;
            if (flag.Repeatable) (_lists.TryGetValue(name, out var list) ? list : _lists[name] = []).Add(value);
        }
        foreach (var f in flags)
            if (f.Default != null && !_values.ContainsKey(f.Name)) _values[f.Name] = f.Default;
    }

    public string Command { get; }
    public bool Help { get; }

    public string? Get(string name) => _values.GetValueOrDefault(name);

    /// <summary>Every value of a repeatable flag, in the order given.</summary>
    public IReadOnlyList<string> GetAll(string name) => _lists.TryGetValue(name, out var list) ? list : [];

    public string Require(string name) => Get(name) ?? throw new EngineException($"engine {Command}: --{name} is required; see `engine {Command} --help`");

    public int GetInt(string name, int fallback)
    {
        var v = Get(name);
        if (v == null) return fallback;
        return int.TryParse(v, out int n) ? n : throw new EngineException($"engine {Command}: --{name} expects an integer, got \"{v}\"");
    }

    public bool GetBool(string name)
    {
        var v = Get(name);
        return v is "true" or "1" or "yes";
    }

    private static string Suggest(string name, IEnumerable<string> known)
    {
        var best = Engine.Text.Suggestions.Closest(name, known);
        return best != null ? $" (did you mean --{best}?)" : "";
    }

    public static string Usage(string command, string synopsis, string description, IReadOnlyList<Flag> flags)
    {
        var lines = new List<string> { $"usage: engine {command} {synopsis}", "", description, "", "flags (Caffe's -flag spelling works too):" };
        foreach (var f in flags)
        {
            var name = f.IsBool ? $"--{f.Name}" : $"--{f.Name} VALUE";
            var def = (f.Default != null ? $" (default {f.Default})" : "") + (f.Repeatable ? " (repeatable)" : "");
            lines.Add($"  {name,-28} {f.Help}{def}");
        }
        return string.Join(Environment.NewLine, lines);
    }
}
