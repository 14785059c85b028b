/* Placeholder so the wal layer has a source until the WAL lands; removed by that work. */
typedef int steme_wal_placeholder_unused;
