/*
 * The funnel's stages (DESIGN §5) in rank order: the one stage table of the tree. C code
 * expands JD_STAGES; the build generates the Lua scripts' rank table from this same list
 * (cmake/Embed.cmake), so a stage is added or renamed here and nowhere else. Header-only
 * so the pure report library can use it without linking the connectors.
 */
#ifndef JD_STAGE_H
#define JD_STAGE_H

/* X(NAME, "name"), rank 1 first. Keep one entry per line: the build reads this list. */
#define JD_STAGES(X)                                                                               \
    X(VISIT, "visit")                                                                              \
    X(LEAD, "lead")                                                                                \
    X(QUALIFIED, "qualified")                                                                      \
    X(OPPORTUNITY, "opportunity")                                                                  \
    X(WON, "won")                                                                                  \
    X(PAID, "paid")

/* Ranks: 0 is "no stage"; visit is 1 … paid is 6. */
enum jd_stage {
    JD_STAGE_NONE = 0,
#define JD_STAGE_ENUM_(name, str) JD_STAGE_##name,
    JD_STAGES(JD_STAGE_ENUM_)
#undef JD_STAGE_ENUM_
        JD_STAGE_COUNT /* one past the last rank */
};

#endif
