from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidField
from app.models import Team
from app.teams.schemas import TeamIn


def check_shift(data: TeamIn) -> None:
    """Both ends or neither: half a shift would silently borrow midnight for the other end."""
    if (data.shift_start is None) != (data.shift_end is None):
        missing = "shift_end" if data.shift_end is None else "shift_start"
        raise InvalidField("Set both ends of the shift, or neither.", field=missing)


async def put_team(session: AsyncSession, *, slug: str, data: TeamIn) -> Team:
    """Teams exist implicitly (sources and reps name them); this sets how one routes and when
    it works."""
    check_shift(data)
    team = await session.get(Team, slug)
    if team is None:
        team = Team(slug=slug)
        session.add(team)
    for name, value in data.model_dump().items():
        setattr(team, name, value)
    await session.flush()
    await session.refresh(team)
    return team


async def list_teams(session: AsyncSession) -> list[Team]:
    return list(await session.scalars(select(Team).order_by(Team.slug)))
