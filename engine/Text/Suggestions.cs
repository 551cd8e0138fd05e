namespace Engine.Text;

/// <summary>"Did you mean …?" for misspelt names: the closest candidate by edit distance.</summary>
internal static class Suggestions
{
    /// <summary>
    /// The candidate nearest to <paramref name="name"/>, or null when none is near enough. A
    /// candidate equal ignoring case always counts; otherwise at most one edit per three
    /// characters (at least one, at most three) is allowed. Ties go to the earlier candidate.
    /// </summary>
    public static string? Closest(string name, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        int allowed = Math.Clamp(name.Length / 3, 1, 3);
        foreach (var c in candidates)
        {
            if (string.Equals(c, name, StringComparison.OrdinalIgnoreCase)) return c;
            int d = Distance(name.ToLowerInvariant(), c.ToLowerInvariant());
            if (d <= allowed && d < bestDistance)
            {
                best = c;
                bestDistance = d;
            }
        }
        return best;
    }

    /// <summary>Levenshtein distance, counting a swap of two adjacent characters as one edit.</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                int v = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) v = Math.Min(v, d[i - 2, j - 2] + 1);
                d[i, j] = v;
            }
        }
        return d[a.Length, b.Length];
    }
}
