using System.Collections.Concurrent;
using System.Reflection;
using Engine.Proto;

namespace Engine.Core;

/// <summary>Names the prototxt `type` a layer class handles. A class may carry several.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class LayerTypeAttribute(string type) : Attribute
{
    public string Type { get; } = type;
}

/// <summary>
/// From a layer `type` string to the class that implements it. Every non-abstract Layer subclass
/// with a [LayerType] attribute in any loaded assembly is found, so a user adds a layer by
/// writing one class in their own project; <see cref="Register"/> adds one by hand.
/// </summary>
public static class LayerRegistry
{
    private static readonly ConcurrentDictionary<string, Func<LayerParameter, Layer>> Creators = new(StringComparer.Ordinal);
    private static readonly HashSet<Assembly> Scanned = [];

    static LayerRegistry()
    {
        AppDomain.CurrentDomain.AssemblyLoad += (_, e) => Scan(e.LoadedAssembly);
        foreach (var a in AppDomain.CurrentDomain.GetAssemblies()) Scan(a);
    }

    public static void Register(string type, Func<LayerParameter, Layer> creator) => Creators[type] = creator;

    public static IReadOnlyCollection<string> Types => Creators.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();

    public static bool IsRegistered(string type) => Creators.ContainsKey(type);

    public static Layer Create(LayerParameter param)
    {
        if (!param.HasType || param.Type.Length == 0)
            throw new EngineException($"layer \"{param.Name}\": no type given; known types: {string.Join(", ", Types)}");
        if (!Creators.TryGetValue(param.Type, out var create))
            throw new EngineException($"layer \"{param.Name}\": unknown layer type \"{param.Type}\"{Suggest(param.Type)}; known types: {string.Join(", ", Types)}");
        return create(param);
    }

    private static string Suggest(string type)
    {
        var close = Engine.Text.Suggestions.Closest(type, Types);
        if (close == null) return "";
        return string.Equals(close, type, StringComparison.OrdinalIgnoreCase)
            ? $" (did you mean \"{close}\"? types are case-sensitive)"
            : $" (did you mean \"{close}\"?)";
    }

    private static void Scan(Assembly assembly)
    {
        lock (Scanned)
        {
            if (!Scanned.Add(assembly) || assembly.IsDynamic) return;
        }
        if (!ReferencesEngine(assembly)) return;
        Type[] types;
        try { types = assembly.GetTypes(); }
        catch (ReflectionTypeLoadException e) { types = e.Types.Where(t => t != null).ToArray()!; }
        foreach (var t in types)
        {
            if (t.IsAbstract || !typeof(Layer).IsAssignableFrom(t)) continue;
            var ctor = t.GetConstructor([typeof(LayerParameter)]);
            if (ctor == null) continue;
            foreach (var attr in t.GetCustomAttributes<LayerTypeAttribute>())
                Creators[attr.Type] = p => (Layer)ctor.Invoke([p]);
        }
    }

    private static bool ReferencesEngine(Assembly a)
    {
        var self = typeof(Layer).Assembly;
        return a == self || a.GetReferencedAssemblies().Any(r => r.Name == self.GetName().Name);
    }
}
