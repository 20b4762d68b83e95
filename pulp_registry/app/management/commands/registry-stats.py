"""``pulpcore-manager registry-stats``: repositories, tags, manifests, blobs and bytes."""

from pulp_registry.app.management.base import RegistryCommand, human_bytes
from pulp_registry.app.tasks.stats import collect_stats


class Command(RegistryCommand):
    help = (
        "Show how much the registry holds: repositories, tags, manifests, blobs and blob "
        "bytes, overall and per namespace. 'served' counts what distributions serve (shared "
        "content once); 'stored' counts everything in the database and artifact storage, "
        "including what registry-gc could free."
    )
    json_option = True

    def run(self, **options):
        stats = collect_stats()
        if self._json:
            self.emit_json(stats)
            return
        overall = stats["overall"]
        served, stored = overall["served"], overall["stored"]
        self.stdout.write(
            f"namespaces: {overall['namespaces']}  distributions: {overall['distributions']}  "
            f"push repositories: {overall['push_repositories']}  "
            f"regular repositories: {overall['regular_repositories']}"
        )
        header = f"{'':<28}{'repos':>7}{'tags':>8}{'manifests':>11}{'blobs':>8}{'bytes':>16}"
        self.stdout.write(header)
        for label, counts, repos in (
            ("served (all namespaces)", served, overall["distributions"]),
            ("stored (incl. unreferenced)", stored, ""),
        ):
            self.stdout.write(self._row(label, repos, counts))
        self.stdout.write("per namespace:")
        for name, counts in stats["namespaces"].items():
            self.stdout.write(self._row("  " + name, counts["repositories"], counts))

    @staticmethod
    def _row(label, repos, counts):
        return (
            f"{label:<28}{repos:>7}{counts['tags']:>8}{counts['manifests']:>11}"
            f"{counts['blobs']:>8}{counts['blob_bytes']:>16}  ({human_bytes(counts['blob_bytes'])})"
        )
